#!/usr/bin/env bash
# Starts a throwaway Dovecot IMAP server on 127.0.0.1 for the mail tests and prints its config file's path.
# Usage: export SEVTRIAGE_TEST_DOVECOT="$(bash scripts/start-test-dovecot.sh)"
#        ... tests ...
#        bash scripts/stop-test-dovecot.sh "$SEVTRIAGE_TEST_DOVECOT"
# Any user name logs in with the password "sevtriage-test" (a static passdb), each with its own Maildir under a
# temporary folder, so every test can have a mailbox of its own. The port is free one picked at start (or
# SEVTRIAGE_TEST_DOVECOT_PORT) and written next to the config as `port`. Installs Debian's dovecot-imapd when it
# is missing (needs root). Prints nothing when it cannot start one; the IMAP tests are then skipped.
#
# TLS (when openssl is there): a throwaway CA and a server certificate for 127.0.0.1/localhost are made in
# tls/ next to the config (ca.pem, and other-ca.pem, a CA that signed nothing, for the "does not verify" test);
# the plain port offers STARTTLS and a second port (written as `imaps_port`) speaks TLS from the start.
# Servers without MOVE: on the same port, 127.0.0.2 announces no MOVE and 127.0.0.3 neither MOVE nor UIDPLUS
# (Dovecot `local` blocks overriding imap_capability), for the watcher's copy + \Deleted + expunge fallback;
# 127.0.0.3 offers no STARTTLS either.
set -uo pipefail
if ! command -v dovecot >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; } >/dev/null 2>&1
fi
command -v dovecot >/dev/null 2>&1 || { echo "note: no Dovecot; the IMAP tests will be skipped" >&2; exit 0; }

dir=$(mktemp -d /tmp/sevtriage-dovecot.XXXXXX)
chmod 755 "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="${SEVTRIAGE_TEST_DOVECOT_PORT:-$(free_port)}"
imaps_port=$(free_port)
mkdir -p "$dir/run" "$dir/state" "$dir/home"
ssl_settings="ssl = no"
if command -v openssl >/dev/null 2>&1 && mkdir -p "$dir/tls" && (
  cd "$dir/tls" &&
  ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes" &&
  openssl req -x509 $ec -days 3 -subj "/CN=sevtriage test CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
  openssl req -x509 $ec -days 3 -subj "/CN=sevtriage other CA" -keyout other-ca.key -out other-ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
  openssl req $ec -subj "/CN=localhost" -keyout server.key -out server.csr &&
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3 -extfile server.ext \
    -out server.pem
) >"$dir/tls.log" 2>&1; then
  chmod 644 "$dir/tls/ca.pem" "$dir/tls/other-ca.pem" "$dir/tls/server.pem"
  ssl_settings="ssl = yes
ssl_cert = <$dir/tls/server.pem
ssl_key = <$dir/tls/server.key"
  echo "$imaps_port" >"$dir/imaps_port"
else
  echo "note: no test certificate (openssl: $(tail -2 "$dir/tls.log" 2>/dev/null)); the TLS tests will be skipped" >&2
  imaps_port=0
fi
# Dovecot's own list after login (2.3) without MOVE, and without MOVE and UIDPLUS.
caps="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE LIST-EXTENDED I18NLEVEL=1 CONDSTORE ESEARCH SEARCHRES WITHIN LIST-STATUS BINARY LITERAL+ SPECIAL-USE"
# Mail is kept as the user running the tests; Dovecot refuses to keep mail as root, so as root (CI containers)
# the system's "mail" account keeps it.
uid=$(id -u)
gid=$(id -g)
login_user=dovenull
internal_user=dovecot
if [ "$uid" = "0" ]; then
  uid=$(id -u mail)
  gid=$(id -g mail)
  chown "$uid:$gid" "$dir/home"
else
  # Without root Dovecot cannot switch users: everything runs as the current user.
  login_user=$(id -un)
  internal_user=$(id -un)
fi
cat >"$dir/dovecot.conf" <<EOF
# Throwaway test server written by scripts/start-test-dovecot.sh; not for real mail.
base_dir = $dir/run
state_dir = $dir/state
instance_name = sevtriage-test-$port
log_path = $dir/dovecot.log
protocols = imap
listen = 127.0.0.1
$ssl_settings
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = $login_user
default_internal_user = $internal_user
passdb {
  driver = static
  args = password=sevtriage-test
}
userdb {
  driver = static
  args = uid=$uid gid=$gid home=$dir/home/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = $uid
first_valid_gid = $gid
protocol imap {
  mail_max_userip_connections = 50
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1, 127.0.0.2, 127.0.0.3
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
  }
}
local 127.0.0.2 {
  protocol imap {
    imap_capability = $caps UIDPLUS
  }
}
local 127.0.0.3 {
  ssl = no
  protocol imap {
    imap_capability = $caps
  }
}
EOF
echo "$port" >"$dir/port"
dovecot -c "$dir/dovecot.conf" >"$dir/start.log" 2>&1 || { echo "note: Dovecot did not start: $(cat "$dir/start.log")" >&2; exit 0; }
for _ in $(seq 50); do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
    echo "$dir/dovecot.conf"
    exit 0
  fi
  sleep 0.1
done
echo "note: Dovecot did not listen on port $port: $(tail -5 "$dir/dovecot.log" 2>/dev/null)" >&2
dovecot -c "$dir/dovecot.conf" stop >/dev/null 2>&1
exit 0
