#!/usr/bin/env python3
"""sink.py: the scripted SMTP peers of the MTA lab (scripts/lab).

    sink.py --out DIR [--receiver ADDR:PORT] [--tarpit ADDR:PORT] [--collector ADDR:PORT]
            [--syslog SOCKET --syslog-file FILE] [--lda DIR --lda-user USER]

receiver   the recipients' MX (mx.example.net). Refuses or defers by recipient:
             nosuchuser@example.net  RCPT 550 5.1.1 user unknown
             greylisted@example.net  RCPT 450 4.7.1 greylisted (always: the sender expires)
             fullbox@example.net     end of DATA 552 5.2.2 mailbox full
             policy@example.net      end of DATA 550 5.7.1 policy rejection
             any other domain        RCPT 554 5.7.1 relay access denied
             any message over SIZE_LIMIT  552 5.3.4 (at MAIL with SIZE=, else after DATA)
             dovecot-NAME@example.net  accepted, then delivered by Dovecot's LDA
                                     (with --lda): dovecot-lda -c DIR/NAME/dovecot.conf,
                                     run as USER, which may reject the message or answer it
             anything else           accepted; no DSN extension is offered, so a sender
                                     asked for NOTIFY=SUCCESS writes a "relayed" DSN
tarpit     accepts the connection and never says a word (the sender times out)
collector  accepts everything; each message is stored as
             DIR/<local part of the recipient>/<arrival time ns>.eml
           with Return-Path and Delivered-To prepended, as a local delivery would.

syslog     a datagram socket (/dev/log in the lab) whose messages go to a file, for the
           MTAs that only log through syslog (Sendmail, Courier).

Every transaction is logged to stderr, one line per command and reply.
"""

import argparse
import asyncio
import os
import pwd
import socket
import sys
import time

SIZE_LIMIT = 20480


def log(*parts):
    sys.stderr.write(time.strftime('%H:%M:%S ') + ' '.join(str(p) for p in parts) + '\n')
    sys.stderr.flush()


def address(arg):
    """The address in `FROM:<a@b> PARAMS` / `TO:<a@b> PARAMS`, and the params."""
    _, _, rest = arg.partition(':')
    rest = rest.strip()
    if rest.startswith('<'):
        addr, _, params = rest[1:].partition('>')
    else:
        addr, _, params = rest.partition(' ')
    return addr.strip(), params.split()


def rcpt_reply(addr):
    local, _, domain = addr.lower().rpartition('@')
    if domain != 'example.net':
        return '554 5.7.1 <%s>: Relay access denied' % addr
    if local == 'nosuchuser':
        return '550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table' % addr
    if local == 'greylisted':
        return '450 4.7.1 <%s>: Recipient address rejected: Greylisted, see http://postgrey.example.net/' % addr
    return '250 2.1.5 Ok'


def data_reply(rcpts, size):
    if size > SIZE_LIMIT:
        return '552 5.3.4 Message size exceeds fixed limit'
    local = rcpts[0].lower().rpartition('@')[0] if rcpts else ''
    if local == 'fullbox':
        return '552 5.2.2 <%s>: Mailbox full: user is over quota' % rcpts[0]
    if local == 'policy':
        return '550 5.7.1 Message rejected for policy reasons'
    return '250 2.0.0 Ok: queued as %X' % (time.time_ns() & 0xFFFFFFFF)


class Session:
    def __init__(self, role, hostname, out, lda=None):
        self.role = role
        self.hostname = hostname
        self.out = out
        self.lda = lda

    async def run(self, reader, writer):
        peer = writer.get_extra_info('peername')
        tag = '%s %s:%s' % (self.role, peer[0], peer[1])

        async def send(line):
            log(tag, '>', line)
            writer.write(line.encode() + b'\r\n')
            await writer.drain()

        if self.role == 'tarpit':
            log(tag, 'connected (tarpit: silent)')
            try:
                while await reader.read(4096):
                    pass
            finally:
                writer.close()
            return
        await send('220 %s ESMTP lab sink' % self.hostname)
        mail_from, rcpts = None, []
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode('latin-1').rstrip('\r\n')
                log(tag, '<', line)
                verb = line[:4].upper()
                arg = line[4:].strip()
                if verb == 'EHLO':
                    limit = SIZE_LIMIT if self.role == 'receiver' else 10 * 1024 * 1024
                    for ext in (self.hostname, 'PIPELINING', 'SIZE %d' % limit, '8BITMIME'):
                        log(tag, '>', '250-' + ext)
                        writer.write(('250-%s\r\n' % ext).encode())
                    await send('250 ENHANCEDSTATUSCODES')
                elif verb == 'HELO':
                    await send('250 %s' % self.hostname)
                elif verb == 'MAIL':
                    mail_from, params = address(arg)
                    rcpts = []
                    size = [int(p[5:]) for p in params if p.upper().startswith('SIZE=') and p[5:].isdigit()]
                    if self.role == 'receiver' and size and size[0] > SIZE_LIMIT:
                        mail_from = None
                        await send('552 5.3.4 Message size exceeds fixed limit')
                    else:
                        await send('250 2.1.0 Ok')
                elif verb == 'RCPT':
                    if mail_from is None:
                        await send('503 5.5.1 Error: need MAIL command')
                        continue
                    addr, _ = address(arg)
                    reply = rcpt_reply(addr) if self.role == 'receiver' else '250 2.1.5 Ok'
                    if reply.startswith('2'):
                        rcpts.append(addr)
                    await send(reply)
                elif verb == 'DATA':
                    if not rcpts:
                        await send('554 5.5.1 Error: no valid recipients')
                        continue
                    await send('354 End data with <CR><LF>.<CR><LF>')
                    body = []
                    while True:
                        raw = await reader.readline()
                        if not raw or raw.rstrip(b'\r\n') == b'.':
                            break
                        if raw.startswith(b'.'):
                            raw = raw[1:]
                        body.append(raw.rstrip(b'\r\n') + b'\n')
                    data = b''.join(body)
                    log(tag, '< (%d bytes of message)' % len(data))
                    if self.role == 'collector':
                        self.store(mail_from, rcpts, data)
                        reply = '250 2.0.0 Ok: stored'
                    else:
                        reply = data_reply(rcpts, len(data))
                    await send(reply)
                    if self.lda and reply.startswith('2'):
                        self.lda.deliver(mail_from, rcpts, data)
                    mail_from, rcpts = None, []
                elif verb == 'RSET':
                    mail_from, rcpts = None, []
                    await send('250 2.0.0 Ok')
                elif verb == 'NOOP':
                    await send('250 2.0.0 Ok')
                elif verb == 'VRFY':
                    await send('252 2.0.0 Cannot VRFY user')
                elif verb == 'QUIT':
                    await send('221 2.0.0 Bye')
                    break
                else:
                    await send('502 5.5.2 Error: command not recognized')
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log(tag, 'connection lost:', exc)
        finally:
            writer.close()

    def store(self, mail_from, rcpts, data):
        for rcpt in rcpts:
            folder = os.path.join(self.out, rcpt.rpartition('@')[0].lower() or 'unnamed')
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, '%d.eml' % time.time_ns())
            head = 'Return-Path: <%s>\nDelivered-To: %s\n' % (mail_from or '', rcpt)
            with open(path + '.tmp', 'wb') as fh:
                fh.write(head.encode() + data)
            os.rename(path + '.tmp', path)
            log('collector stored', path)


class Lda:
    """Dovecot's LDA as the final delivery agent for dovecot-NAME@example.net.

    Runs after the 250, as an MTA's local delivery would, as an unprivileged user
    (run as root, dovecot-lda insists on an auth service). What Dovecot sends back
    (a rejection, an MDN, a vacation reply) goes through its sendmail_path to the
    collector."""

    def __init__(self, root, user):
        self.root = root
        self.user = pwd.getpwnam(user)
        self.tasks = set()

    def deliver(self, mail_from, rcpts, data):
        for rcpt in rcpts:
            local, _, domain = rcpt.lower().rpartition('@')
            conf = os.path.join(self.root, local[len('dovecot-'):], 'dovecot.conf')
            if domain == 'example.net' and local.startswith('dovecot-') and os.path.exists(conf):
                task = asyncio.get_running_loop().create_task(self.run(conf, mail_from, rcpt, data))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def run(self, conf, mail_from, rcpt, data):
        home = os.path.join(os.path.dirname(conf), 'mail')
        env = {'HOME': home, 'USER': self.user.pw_name, 'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}
        cmd = ['/usr/lib/dovecot/dovecot-lda', '-c', conf, '-f', mail_from or '', '-a', rcpt]
        head = 'Return-Path: <%s>\nDelivered-To: %s\n' % (mail_from or '', rcpt)
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=env, cwd=home,
            user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        out, _ = await proc.communicate(head.encode() + data)
        log('lda', rcpt, 'exit', proc.returncode, out.decode('utf-8', 'replace').strip())


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True)
    for role in ('receiver', 'tarpit', 'collector'):
        ap.add_argument('--' + role, action='append', default=[], metavar='ADDR:PORT')
    ap.add_argument('--syslog')
    ap.add_argument('--syslog-file')
    ap.add_argument('--lda', metavar='DIR', help='Dovecot configs, one directory per dovecot-NAME')
    ap.add_argument('--lda-user', metavar='USER')
    args = ap.parse_args()
    lda = Lda(args.lda, args.lda_user) if args.lda else None
    if args.syslog:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(args.syslog)
        os.chmod(args.syslog, 0o666)
        out = open(args.syslog_file, 'ab', buffering=0)

        class Syslog(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                out.write(time.strftime('%H:%M:%S ').encode() + data.rstrip(b'\0\n') + b'\n')

        await asyncio.get_running_loop().create_datagram_endpoint(Syslog, sock=sock)
    names = {'receiver': 'mx.example.net', 'tarpit': 'tarpit.example.net', 'collector': 'inbound.lab.test'}
    servers = []
    for role in ('receiver', 'tarpit', 'collector'):
        for spec in getattr(args, role):
            host, _, port = spec.rpartition(':')
            session = Session(role, names[role], args.out, lda if role == 'receiver' else None)
            servers.append(await asyncio.start_server(
                lambda r, w, s=session: s.run(r, w), host.strip('[]'), int(port)))
            log('listening', role, spec)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == '__main__':
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
