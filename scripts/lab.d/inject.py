#!/usr/bin/env python3
"""inject.py: write one test message and hand it to a sending MTA.

    inject.py --mta NAME --cause CAUSE --from ENVELOPE-SENDER --to RECIPIENT
              [--notify SUCCESS|FAILURE,DELAY|...] [--size BYTES]
              (--smtp HOST:PORT | --pipe 'COMMAND ...')

--smtp submits over SMTP, with RCPT ... NOTIFY= when the MTA offers DSN;
--pipe feeds the message to a sendmail-style command on stdin (the command
gets `-f SENDER RECIPIENT` appended). --size pads the body to about that many bytes.
"""

import argparse
import email.utils
import shlex
import smtplib
import subprocess
import sys


def message(args):
    head = [
        'From: Lab Newsletter <news@sender.lab.test>',
        'To: %s' % ', '.join('<%s>' % a for a in args.to.split(',')),
        'Subject: MTA lab: %s via %s' % (args.cause, args.mta),
        'Date: %s' % email.utils.formatdate(localtime=False),
        'Message-ID: <lab.%s.%s@sender.lab.test>' % (args.mta, args.cause),
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=us-ascii',
        'X-Lab-Cause: %s' % args.cause,
    ]
    body = ['Hello,', '', 'this is a test message of the bounce-tools MTA lab', '(%s, cause %s).' % (args.mta, args.cause), '']
    text = '\r\n'.join(head) + '\r\n\r\n' + '\r\n'.join(body) + '\r\n'
    filler = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n'
    while len(text) < args.size:
        text += filler
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--mta', required=True)
    ap.add_argument('--cause', required=True)
    ap.add_argument('--from', dest='sender', required=True)
    ap.add_argument('--to', required=True, help='recipient(s), comma-separated')
    ap.add_argument('--notify', default='FAILURE,DELAY')
    ap.add_argument('--size', type=int, default=0)
    ap.add_argument('--smtp')
    ap.add_argument('--pipe')
    args = ap.parse_args()
    text = message(args)
    if args.pipe:
        cmd = shlex.split(args.pipe) + ['-f', args.sender] + args.to.split(',')
        subprocess.run(cmd, input=text.replace('\r\n', '\n').encode(), check=True)
        return
    host, _, port = args.smtp.rpartition(':')
    with smtplib.SMTP(host, int(port), local_hostname='client.lab.test', timeout=30) as s:
        s.ehlo()
        opts = ['NOTIFY=' + args.notify] if s.has_extn('dsn') else []
        refused = s.sendmail(args.sender, args.to.split(','), text.encode(), rcpt_options=opts)
        if refused:
            sys.exit('inject: refused: %r' % refused)


if __name__ == '__main__':
    main()
