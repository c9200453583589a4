#!/usr/bin/env python3
"""label.py: turn the bounces the MTA lab collected into a scored corpus.

    label.py --run RUN --check          exit 0 when every message sent has its final answer
    label.py --run RUN --out fixtures/lab

RUN/manifest.tsv has one line per message sent: MTA, cause, recipient,
injection time, queue lifetime (s). RUN/collected/bounces+MTA-CAUSE/*.eml are
the messages that came back to that envelope sender, named by arrival time.

The label comes from the set-up, not from the bounce: the cause says what the
receiver (or DNS, or the network) did, and the arrival time says which kind of
notice it is. A message that came back well before the queue lifetime ran
out is the immediate bounce of an immediate cause, or, for a deferred cause, a
delay notice; one that came back after it is the expiry bounce. The status is
the only field read from the bounce: the Status of its delivery-status part,
unless there is none or it is a generic x.0.0; then the status the receiver
replied with (or the generic one, or null).

Writes OUT/eml/MTA-CAUSE.eml (MTA-CAUSE-delay.eml for the first delay notice)
and OUT/expected.jsonl (the format of ../shared/corpus/*/expected.jsonl), keeping
the files and lines of MTAs this run did not cover.
"""

import argparse
import email
import email.policy
import glob
import json
import os
import sys

# cause: category, reason, bounce, status and reply code the receiver gave
LABELS = {
    'unknownuser': ('hard', 'userunknown', 'hard', '5.1.1', 550),
    'hostunknown': ('hard', 'hostunknown', 'hard', None, None),
    'mailboxfull': ('soft', 'mailboxfull', 'soft', '5.2.2', 552),
    'toobig': ('soft', 'mesgtoobig', 'soft', '5.3.4', 552),
    'policy': ('blocked', 'policyviolation', 'soft', '5.7.1', 550),
    'relaydenied': ('blocked', 'norelaying', 'soft', '5.7.1', 554),
    'success': ('delivered', 'delivered', None, None, 250),
    'delivered': ('delivered', 'delivered', None, None, None),
    # Written by Dovecot behind the receiver, which had accepted the message (250).
    'dovecotquota': ('soft', 'mailboxfull', 'soft', '5.2.2', None),
    'sievereject': ('blocked', 'filtered', 'soft', None, None),
    'vacation': ('autoreply', 'vacation', None, None, None),
}
SUCCESS = {'success': 'relayed', 'delivered': 'delivered'}
# The action of a final notice: failed, unless it reports a success or is no failure at all.
ACTION = dict(SUCCESS, vacation=None)
# Causes whose notice Dovecot writes, not the sending MTA: their group and engine.
DOVECOT = {'dovecotquota', 'sievereject', 'vacation'}
# deferred cause: status and reply code the receiver gave (none: the network failed)
DEFERRED = {'greylisted': ('4.7.1', 450), 'refused': (None, None), 'timeout': (None, None)}
# the causes of the recipients of the message sent to several at once
BY_RECIPIENT = {'nosuchuser@example.net': 'unknownuser', 'user@elsewhere.example.org': 'relaydenied'}
WHAT = {
    'unknownuser': 'receiver: RCPT 550 5.1.1 user unknown',
    'hostunknown': 'DNS: NXDOMAIN for the recipient domain',
    'mailboxfull': 'receiver: end of DATA 552 5.2.2 mailbox full',
    'toobig': 'receiver: SIZE limit 20480, message of 40000 bytes: 552 5.3.4',
    'policy': 'receiver: end of DATA 550 5.7.1 policy rejection',
    'relaydenied': 'receiver: RCPT 554 5.7.1 relay access denied',
    'greylisted': 'receiver: RCPT 450 4.7.1 greylisted, until the queue lifetime ran out',
    'refused': 'network: connection refused by the MX, until the queue lifetime ran out',
    'timeout': 'network: the MX accepts and never greets, until the queue lifetime ran out',
    'success': 'receiver: accepted, no DSN offered, NOTIFY=SUCCESS: relayed DSN',
    'delivered': 'sender: delivered to a local mailbox, NOTIFY=SUCCESS: delivered DSN',
    'multi': 'receiver: one message to two recipients, RCPT 550 5.1.1 and RCPT 554 5.7.1 relay denied',
    'dovecotquota': 'receiver: accepted; Dovecot LDA over quota: rejection DSN 5.2.2',
    'sievereject': 'receiver: accepted; Dovecot LDA, Sieve reject: MDN "deleted"',
    'vacation': 'receiver: accepted; Dovecot LDA, Sieve vacation: auto-reply',
}
MARGIN = 15  # seconds before the lifetime ends from which a message counts as the expiry


def manifest(run):
    rows = []
    with open(os.path.join(run, 'manifest.tsv')) as fh:
        for line in fh:
            mta, cause, rcpt, sent, lifetime = line.rstrip('\n').split('\t')
            rows.append(dict(mta=mta, cause=cause, rcpt=rcpt, sent=int(sent), lifetime=int(lifetime)))
    return rows


def arrivals(run, row):
    folder = os.path.join(run, 'collected', 'bounces+%s-%s' % (row['mta'], row['cause']))
    found = []
    for path in glob.glob(os.path.join(folder, '*.eml')):
        found.append((int(os.path.basename(path)[:-4]) / 1e9, path))
    return sorted(found)


def split(row, found):
    """(the final notice or None, its kind: final/expiry, the delay notices)."""
    if row['cause'] in SUCCESS or row['lifetime'] <= 0:
        return (found[0][1] if found else None), 'final', []
    cut = row['sent'] + row['lifetime'] - MARGIN
    early = [p for t, p in found if t < cut]
    late = [p for t, p in found if t >= cut]
    if row['cause'] in LABELS and early:
        return early[0], 'final', []
    if row['cause'] == 'multi' and early:
        return early[0], 'final', []
    return (late[0] if late else None), 'expiry', early


def dsn_status(path, rcpt):
    with open(path, 'rb') as fh:
        msg = email.message_from_binary_file(fh, policy=email.policy.compat32)
    statuses = []
    for part in msg.walk():
        if part.get_content_type() != 'message/delivery-status':
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        if not blocks:
            text = part.get_payload(decode=True) or b''
            blocks = [email.message_from_bytes(b) for b in text.replace(b'\r\n', b'\n').split(b'\n\n')]
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            st = block.get('Status')
            fr = (block.get('Final-Recipient') or block.get('Original-Recipient') or '').lower()
            if st:
                statuses.append((rcpt.lower() in fr, st.split()[0].strip()))
    statuses.sort(key=lambda s: not s[0])
    return statuses[0][1] if statuses else None


def record(row, kind, path, rcpt):
    cause = BY_RECIPIENT.get(rcpt, row['cause']) if row['cause'] == 'multi' else row['cause']
    if kind == 'delay':
        category, reason, bounce, action = 'delayed', 'delayed', None, 'delayed'
        status, code = DEFERRED[cause]
    elif kind == 'expiry':
        category, reason, bounce, action = 'soft', 'expired', 'soft', 'failed'
        status, code = DEFERRED.get(cause, (None, None))
    else:
        category, reason, bounce, status, code = LABELS[cause]
        action = ACTION.get(cause, 'failed')
    # What the MTA wrote, unless it wrote nothing specific; then what the receiver said.
    written = dsn_status(path, rcpt)
    if written and not written.endswith('.0.0'):
        status = written
    status = status or written
    return {'recipient': rcpt, 'category': category, 'reason': reason, 'status': status,
            'smtp_code': code, 'bounce': bounce, 'action': action, 'feedback_type': None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', required=True)
    ap.add_argument('--out')
    ap.add_argument('--check', action='store_true')
    args = ap.parse_args()
    rows = manifest(args.run)
    if args.check:
        sys.exit(0 if all(split(r, arrivals(args.run, r))[0] for r in rows) else 1)

    versions = {}
    vpath = os.path.join(args.run, 'versions.tsv')
    if os.path.exists(vpath):
        with open(vpath) as fh:
            versions = dict(line.rstrip('\n').split('\t', 1) for line in fh if '\t' in line)
    eml = os.path.join(args.out, 'eml')
    os.makedirs(eml, exist_ok=True)
    mtas = {r['mta'] for r in rows}
    for path in glob.glob(os.path.join(eml, '*.eml')):
        if os.path.basename(path).split('-')[0] in mtas:
            os.remove(path)
    kept = []
    exp_path = os.path.join(args.out, 'expected.jsonl')
    if os.path.exists(exp_path):
        with open(exp_path) as fh:
            kept = [json.loads(line) for line in fh if line.strip()]
        kept = [e for e in kept if e['file'].split('-')[0] not in mtas]

    new, missing = [], []
    for row in rows:
        found = arrivals(args.run, row)
        final, kind, delays = split(row, found)
        if row['cause'] == 'multi' and len(found) > 1:
            # One notice per recipient: not the case this cause is for.
            sys.stderr.write('label: %s-multi: %d notices, skipped\n' % (row['mta'], len(found)))
            continue
        notices = []
        if delays:
            notices.append(('delay', delays[0], '%s-%s-delay.eml' % (row['mta'], row['cause'])))
        if final:
            notices.append((kind, final, '%s-%s.eml' % (row['mta'], row['cause'])))
        else:
            missing.append('%s-%s' % (row['mta'], row['cause']))
        for kind, path, name in notices:
            with open(path, 'rb') as src, open(os.path.join(eml, name), 'wb') as dst:
                dst.write(src.read())
            writer = 'dovecot' if row['cause'] in DOVECOT else row['mta']
            new.append({
                'file': name, 'expect': 'bounce', 'group': 'lab-' + writer,
                'engine': versions.get(writer), 'cause': row['cause'], 'notice': kind,
                'records': [record(row, kind, path, rcpt) for rcpt in row['rcpt'].split(',')],
                'label_source': {'cause': WHAT[row['cause']],
                                 'notice': {'delay': 'arrived before the queue lifetime ran out',
                                            'expiry': 'arrived after the queue lifetime ran out',
                                            'final': 'immediate bounce'}[kind] if row['cause'] not in ACTION
                                 else 'auto-reply' if row['cause'] in DOVECOT else 'success DSN',
                                 'status': 'delivery-status part unless missing or x.0.0, else the receiver reply'},
            })
    out = sorted(kept + new, key=lambda e: e['file'])
    with open(exp_path, 'w') as fh:
        for e in out:
            fh.write(json.dumps(e, sort_keys=False) + '\n')
    sys.stderr.write('label: %d notices written (%d this run), %d messages without a final answer%s\n' % (
        len(out), len(new), len(missing), (': ' + ' '.join(missing)) if missing else ''))


if __name__ == '__main__':
    main()
