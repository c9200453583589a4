# shellcheck shell=bash
# The sending MTAs of scripts/lab: for each, start_MTA (config, spool,
# daemon on its own 127.0.0.x:25), inject_MTA (one message per cause, see
# inject_all) and stop_MTA. Sourced by scripts/lab inside its namespaces,
# where /etc, /usr and /var are throw-away overlays holding the unpacked
# packages; RUN is the run directory, PIDS the processes to stop.

# ---------------------------------------------------------------- Postfix
start_postfix() {
  mkdir -p /etc/postfix
  cat > /etc/postfix/main.cf <<'EOT'
compatibility_level = 3.6
myhostname = postfix.lab.test
mydomain = lab.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.21
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
biff = no
maillog_file = /var/log/postfix.log
smtp_tls_security_level = none
# Short queue life: a delay notice after 30 s, the expiry bounce after 2 min.
maximal_queue_lifetime = 2m
bounce_queue_lifetime = 2m
delay_warning_time = 30s
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 20s
smtp_connect_timeout = 5s
smtp_helo_timeout = 10s
# reader@postfix.lab.test: a local Maildir, for "delivered" DSNs.
virtual_mailbox_domains = postfix.lab.test
virtual_mailbox_base = /var/mail/lab
virtual_mailbox_maps = static:reader/
virtual_uid_maps = static:2001
virtual_gid_maps = static:2001
EOT
  cat > /etc/postfix/master.cf <<'EOT'
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       10      1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOT
  mkdir -p /var/lib/postfix /var/spool/postfix /var/mail/lab
  chown postfix:postfix /var/mail/lab
  postfix set-permissions create-missing || true
  postfix start
  wait_port 127.0.0.21 25
}

inject_postfix() { inject_all postfix "--smtp 127.0.0.21:25" "$LIFETIME"; }

stop_postfix() { postfix stop; cp /var/log/postfix.log "$RUN/postfix.log" 2>/dev/null || true; }

# ---------------------------------------------------------------- Exim
start_exim() {
  mkdir -p /etc/exim4 /var/spool/exim4 /var/log/exim4 /run/exim4
  chown Debian-exim:Debian-exim /var/spool/exim4 /var/log/exim4 /run/exim4
  # Debian's exim4 reads /etc/exim4/exim4.conf before its generated config.
  cat > /etc/exim4/exim4.conf <<'EOT'
primary_hostname = exim.lab.test
qualify_domain = lab.test
local_interfaces = 127.0.0.22
daemon_smtp_ports = 25
exim_user = Debian-exim
exim_group = Debian-exim
never_users = root
spool_directory = /var/spool/exim4
log_file_path = /var/log/exim4/%slog
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
dsn_advertise_hosts = *
acl_smtp_rcpt = acl_check_rcpt
# A delay warning after 30 s; the retry rule below gives up after 2 min.
delay_warning = 30s
delay_warning_condition = true
ignore_bounce_errors_after = 2m
timeout_frozen_after = 10m

begin acl
acl_check_rcpt:
  accept hosts = 127.0.0.0/8
  deny message = relay not permitted

begin routers
# reader@exim.lab.test: a local mailbox, for "delivered" DSNs.
local_reader:
  driver = accept
  domains = exim.lab.test
  local_parts = reader
  transport = local_mailbox

dnslookup:
  driver = dnslookup
  transport = remote_smtp
  no_more

begin transports
local_mailbox:
  driver = appendfile
  file = /var/spool/exim4/reader.mbox
  user = Debian-exim
  group = Debian-exim

remote_smtp:
  driver = smtp
  connect_timeout = 5s
  command_timeout = 10s
  hosts_avoid_tls = *

begin retry
*   *   F,2m,10s
EOT
  exim4 -bV | head -1
  exim4 -bd -q10s -oP /run/exim4/lab.pid
  wait_port 127.0.0.22 25
}

inject_exim() { inject_all exim "--smtp 127.0.0.22:25" "$LIFETIME"; }

stop_exim() {
  kill "$(cat /run/exim4/lab.pid)" || true
  cat /var/log/exim4/mainlog > "$RUN/exim.log" 2>/dev/null || true
}

# ---------------------------------------------------------------- Sendmail
start_sendmail() {
  mkdir -p /etc/mail /var/spool/mqueue /var/spool/mqueue-client
  chmod 700 /var/spool/mqueue
  chown smmsp:smmsp /var/spool/mqueue-client
  touch /etc/mail/local-host-names /etc/mail/aliases
  cat > /etc/mail/lab.mc <<'EOT'
divert(-1)
divert(0)dnl
include(`/usr/share/sendmail/cf/m4/cf.m4')dnl
VERSIONID(`bounce-tools MTA lab')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `sendmail.lab.test')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confTO_QUEUEWARN', `30s')dnl
define(`confTO_QUEUERETURN', `2m')dnl
define(`confTO_CONNECT', `5s')dnl
define(`confTO_ICONNECT', `5s')dnl
define(`confTO_INITIAL', `10s')dnl
define(`confMIN_QUEUE_AGE', `0')dnl
define(`confQUEUE_LA', `100')dnl
define(`confREFUSE_LA', `200')dnl
define(`confDELAY_LA', `300')dnl
define(`ALIAS_FILE', `/etc/mail/aliases')dnl
define(`confLOG_LEVEL', `14')dnl
DAEMON_OPTIONS(`Family=inet, Name=MTA-v4, Port=smtp, Addr=127.0.0.23')dnl
FEATURE(`promiscuous_relay')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`nocanonify')dnl
MAILER(`smtp')dnl
EOT
  m4 /etc/mail/lab.mc > /etc/mail/sendmail.cf
  cp /etc/mail/sendmail.cf /etc/mail/submit.cf
  /usr/libexec/sendmail/sendmail -d0.1 -bt < /dev/null | head -3
  /usr/libexec/sendmail/sendmail -bd -q10s -O PidFile=/run/sendmail-lab.pid -L sendmail-lab \
    -O LogLevel=14 2> "$RUN/sendmail.stderr"
  wait_port 127.0.0.23 25
}

inject_sendmail() { inject_all sendmail "--smtp 127.0.0.23:25" "$LIFETIME"; }

stop_sendmail() { kill "$(head -1 /run/sendmail-lab.pid)" || true; }

# ---------------------------------------------------------------- OpenSMTPD
# Its expiry notice uses the delay template ("Action: delayed", "only a
# temporary failure") although the envelope is gone: labelled expired.
start_opensmtpd() {
  mkdir -p /var/spool/smtpd /var/lib/opensmtpd/empty
  chmod 711 /var/spool/smtpd
  cat > /etc/smtpd.conf <<'EOT'
# A delay warning after 30 s, the expiry after 2 min.
queue ttl 2m
bounce warn-interval 30s
listen on 127.0.0.24 port 25 hostname opensmtpd.lab.test
action "out" relay helo opensmtpd.lab.test
match from any for any action "out"
EOT
  smtpd -n -f /etc/smtpd.conf
  smtpd -d -v -f /etc/smtpd.conf > "$RUN/opensmtpd.log" 2>&1 &
  PIDS+=($!)
  echo $! > /run/opensmtpd-lab.pid
  wait_port 127.0.0.24 25
}

inject_opensmtpd() { inject_all opensmtpd "--smtp 127.0.0.24:25" "$LIFETIME"; }

stop_opensmtpd() { kill "$(cat /run/opensmtpd-lab.pid)" || true; }

# ---------------------------------------------------------------- dma
# The DragonFly Mail Agent has no daemon and no configurable queue lifetime
# (it retries for days): it gets the causes that bounce at once.
start_dma() {
  mkdir -p /etc/dma /var/spool/dma
  chmod 775 /var/spool/dma
  cat > /etc/dma/dma.conf <<'EOT'
SPOOLDIR /var/spool/dma
MAILNAME dma.lab.test
EOT
  touch /etc/dma/auth.conf
  dma -bp || true
}

inject_dma() {
  inject_all dma "--pipe dma" 0 \
    unknownuser hostunknown mailboxfull toobig policy relaydenied multi \
    dovecotquota sievereject vacation
}

stop_dma() { :; }

# ---------------------------------------------------------------- Haraka
# Haraka (npm) relays for 127.0.0.0/8 through its outbound queue; it writes
# no delay notices, and gives up after its temp_fail_intervals (4 x 30 s).
start_haraka() {
  local bin=$WORK/haraka/node_modules/.bin/haraka dir=/etc/haraka-lab
  [ -x "$bin" ] || { echo "Haraka is not installed in $WORK/haraka"; return 1; }
  rm -rf "$dir"
  "$bin" -i "$dir"
  echo haraka.lab.test > "$dir/config/me"
  printf 'relay\n' > "$dir/config/plugins"
  printf '[relay]\nacl=true\n' > "$dir/config/relay.ini"
  echo 127.0.0.0/8 > "$dir/config/relay_acl_allow"
  printf 'listen=127.0.0.27:25\nnodes=\n' > "$dir/config/smtp.ini"
  printf 'temp_fail_intervals=30s*4\nconnect_timeout=5\nenable_tls=false\nlocal_mx_ok=true\n' > "$dir/config/outbound.ini"
  printf '[main]\nlevel=info\n' > "$dir/config/log.ini"
  node "$bin" -c "$dir" > "$RUN/haraka.log" 2>&1 &
  PIDS+=($!)
  echo $! > /run/haraka-lab.pid
  wait_port 127.0.0.27 25
}

inject_haraka() {
  inject_all haraka "--smtp 127.0.0.27:25" "$LIFETIME" \
    unknownuser hostunknown mailboxfull toobig policy relaydenied greylisted refused timeout multi \
    dovecotquota sievereject vacation
}

stop_haraka() { kill "$(cat /run/haraka-lab.pid)" || true; }

# ---------------------------------------------------------------- Courier
start_courier() {
  local c=/etc/courier
  echo courier.lab.test > $c/me
  echo lab.test > $c/defaultdomain
  echo courier.lab.test > $c/locals
  # A delay notice after 30 s, the expiry after 2 min; retries every 10-20 s.
  echo 2m > $c/queuetime
  echo 30s > $c/warntime
  echo 10s > $c/retryalpha
  echo 3 > $c/retrybeta
  echo 20s > $c/retrygamma
  echo 1 > $c/retrymaxdelta
  echo 5 > $c/esmtptimeoutconnect
  echo 10 > $c/esmtptimeouthelo
  echo 0 > $c/esmtpdelay
  mkdir -p $c/smtpaccess
  printf '127\tallow,RELAYCLIENT\n' > $c/smtpaccess/default
  sed -i -e 's/^##*\s*ADDRESS=.*/ADDRESS=127.0.0.25/' -e 's/^TCPDOPTS=.*/TCPDOPTS="-noidentlookup -nodnslookup"/' \
    -e 's/^BOFHCHECKDNS=.*/BOFHCHECKDNS=0/' -e 's/^TARPIT=.*/TARPIT=0/' $c/esmtpd
  grep -q '^ADDRESS=' $c/esmtpd || echo 'ADDRESS=127.0.0.25' >> $c/esmtpd
  mkdir -p /run/courier /var/lib/courier/msgq /var/lib/courier/msgs /var/lib/courier/tmp /var/lib/courier/track
  chown -R courier:courier /var/lib/courier /run/courier
  chmod 750 /var/lib/courier/msgq /var/lib/courier/msgs /var/lib/courier/track
  chmod 770 /var/lib/courier/tmp
  /usr/lib/courier/makesmtpaccess
  /usr/lib/courier/makealiases || true
  /usr/lib/courier/makeacceptmailfor || true
  /usr/lib/courier/makehosteddomains || true
  courier start
  esmtpd start
  wait_port 127.0.0.25 25
}

inject_courier() { inject_all courier "--smtp 127.0.0.25:25" "$LIFETIME"; }

stop_courier() { esmtpd stop || true; courier stop || true; }
