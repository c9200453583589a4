#!/usr/bin/env python3
"""sendmail.py: the sendmail_path of the lab's Dovecot (scripts/lab.d/dovecot.sh).

    sendmail.py --smtp HOST:PORT [-i] [-f SENDER] [--] RECIPIENT...

Reads a message on stdin, as Dovecot hands it to sendmail (`-i -f <> --
RECIPIENT`), and submits it over SMTP to HOST:PORT, the lab's collector, for
the recipients given: the envelope sender of the lab's test message, so the
collector files Dovecot's rejection or auto-reply like any bounce. Exits 75
(EX_TEMPFAIL) when the submission fails, as sendmail would.
"""

import smtplib
import sys


def parse(argv):
    smtp, sender, rcpts = None, '', []
    args = iter(argv)
    for arg in args:
        if arg == '--smtp':
            smtp = next(args)
        elif arg == '-f':
            sender = next(args)
        elif arg.startswith('-f'):
            sender = arg[2:]
        elif arg == '--':
            rcpts.extend(args)
        elif arg.startswith('-'):
            continue  # -i, -oi and the like: the message ends at end of input anyway
        else:
            rcpts.append(arg)
    if sender == '<>':
        sender = ''
    return smtp, sender, rcpts


def main():
    smtp, sender, rcpts = parse(sys.argv[1:])
    if not smtp or not rcpts:
        sys.exit('usage: sendmail.py --smtp HOST:PORT [-i] [-f SENDER] [--] RECIPIENT...')
    data = sys.stdin.buffer.read().replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    host, _, port = smtp.rpartition(':')
    try:
        with smtplib.SMTP(host, int(port), local_hostname='mx.example.net', timeout=30) as s:
            s.sendmail(sender, rcpts, data)
    except (OSError, smtplib.SMTPException) as exc:
        sys.stderr.write('sendmail.py: %s\n' % exc)
        sys.exit(75)


if __name__ == '__main__':
    main()
