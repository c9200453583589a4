# shellcheck shell=bash
# Dovecot behind the receiver of scripts/lab: the final delivery agent for
# dovecot-*@example.net, so the lab also yields the messages Dovecot writes
# itself. Sourced by scripts/lab inside its namespaces; RUN is the run
# directory, WORK the work directory.
#
# sink.py accepts those recipients (250) and hands each message to
# dovecot-lda (from the unpacked dovecot-core, with Pigeonhole's Sieve plugin
# from dovecot-sieve) as the throw-away user dovecot-lab, with the envelope
# sender and the recipient. Each scenario has its own config and home:
#   quota      a 10-byte quota: the LDA rejects the message with a
#              delivery-status "Rejected: ..." (Status 5.2.2, "Quota exceeded")
#   reject     a Sieve `reject`: a disposition notification (MDN, "deleted")
#   vacation   a Sieve `vacation`: an auto-reply (Auto-Submitted: auto-replied)
# Dovecot sends these to the envelope sender through its sendmail_path,
# scripts/lab.d/sendmail.py, which submits them over SMTP to the collector.
DOVECOT_USER=dovecot-lab
DOVECOT_DIR=$WORK/run/dovecot
DOVECOT_SCENARIOS="quota reject vacation"

setup_dovecot() {
  local uid=2011 gid=2011 s dir sieve
  echo "$DOVECOT_USER:x:$uid:$gid::$DOVECOT_DIR:/usr/sbin/nologin" >> /etc/passwd
  echo "$DOVECOT_USER:x:$gid:" >> /etc/group
  mkdir -p "$DOVECOT_DIR"
  # A copy: the repository may sit where the throw-away user cannot read.
  install -m 755 "$LABD/sendmail.py" "$DOVECOT_DIR/sendmail.py"
  for s in $DOVECOT_SCENARIOS; do
    dir=$DOVECOT_DIR/$s
    mkdir -p "$dir/mail" "$dir/run"
    case $s in
      quota) sieve= ;;
      reject)
        sieve='require ["reject"];
reject "Your message was refused by a Sieve filter of the MTA lab.";' ;;
      vacation)
        sieve='require ["vacation"];
vacation :days 1 :subject "Out of office (MTA lab)"
  "I am away until further notice; this is an automatic reply of the MTA lab.";' ;;
    esac
    if [ -n "$sieve" ]; then printf '%s\n' "$sieve" > "$dir/active.sieve"; fi
    {
      echo "base_dir = $dir/run"
      echo "mail_location = maildir:$dir/mail/box"
      echo "mail_plugin_dir = /usr/lib/dovecot/modules"
      echo "postmaster_address = postmaster@mx.example.net"
      echo "hostname = mx.example.net"
      echo "sendmail_path = $DOVECOT_DIR/sendmail.py --smtp 127.0.0.20:25"
      echo "log_path = $dir/log"
      echo "default_internal_user = $DOVECOT_USER"
      echo "default_login_user = $DOVECOT_USER"
      echo "ssl = no"
      echo "mail_plugins = quota"
      echo "plugin {"
      echo "  quota = maildir:User quota"
      # 0 is no limit; 10 bytes is less than any message.
      if [ "$s" = quota ]; then echo "  quota_rule = *:storage=10B"; else echo "  quota_rule = *:storage=0"; fi
      if [ -n "$sieve" ]; then echo "  sieve = file:$dir/sieve;active=$dir/active.sieve"; fi
      echo "}"
      echo "protocol lda {"
      echo "  mail_plugins = \$mail_plugins sieve"
      echo "}"
      echo "userdb {"
      echo "  driver = static"
      echo "  args = uid=$uid gid=$gid home=$dir/mail"
      echo "}"
      echo "passdb {"
      echo "  driver = static"
      echo "  args = nopassword=y"
      echo "}"
    } > "$dir/dovecot.conf"
  done
  chown -R "$DOVECOT_USER:$DOVECOT_USER" "$DOVECOT_DIR"
  /usr/bin/doveconf -c "$DOVECOT_DIR/quota/dovecot.conf" -n > /dev/null
}
