//! NDJSON message stream (bounce-tools(7), MESSAGE STREAM): one JSON object
//! per message, the bytes in `raw` (valid UTF-8) or `raw_base64` (anything
//! else), with the IMAP coordinates bfetch knows. bfetch writes these lines
//! directly, borrowing the message bytes; bclassify reads them back with
//! [`StreamMessage::into_bytes`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uidvalidity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internaldate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
}

impl StreamMessage {
    /// Stores the message bytes losslessly: as text when they are UTF-8,
    /// else base64. (bfetch writes its lines directly; this is the reference
    /// its tests compare with.)
    #[cfg(test)]
    pub fn set_bytes(&mut self, bytes: Vec<u8>) {
        self.size = Some(bytes.len() as u64);
        match String::from_utf8(bytes) {
            Ok(s) => {
                self.raw = Some(s);
                self.raw_base64 = None;
            }
            Err(e) => {
                self.raw = None;
                self.raw_base64 = Some(BASE64.encode(e.as_bytes()));
            }
        }
    }

    #[cfg(test)]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let mut m = StreamMessage::default();
        m.set_bytes(bytes);
        m
    }

    /// The message bytes, or a description of what is wrong with the line.
    pub fn into_bytes(self) -> Result<Vec<u8>, String> {
        match (self.raw, self.raw_base64) {
            (Some(s), _) => Ok(s.into_bytes()),
            (None, Some(b)) => BASE64
                .decode(b.as_bytes())
                .map_err(|e| format!("raw_base64 is not valid base64: {e}")),
            (None, None) => Err("object has neither \"raw\" nor \"raw_base64\"".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_binary_and_text() {
        for bytes in [
            b"Subject: x\r\n\r\nhi\r\n".to_vec(),
            vec![0xff, 0x00, b'\n', 0x80],
        ] {
            let line = serde_json::to_string(&StreamMessage::from_bytes(bytes.clone())).unwrap();
            let back: StreamMessage = serde_json::from_str(&line).unwrap();
            assert_eq!(back.into_bytes().unwrap(), bytes);
        }
    }
}
