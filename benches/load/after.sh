# Sourced by the scripts that measure with what benches/load.sh left in $W (ab.sh,
# instructions.sh, profile.sh): the ports of its configuration, the nginx upstream, and on exit
# the end of the server under test ($SRV) and of nginx.
UP_PORT=$(grep -o 'listen 127.0.0.1:[0-9]*' "$W/nginx.conf" | cut -d: -f2)
JG_PORT=$(grep -o '^proxy = "127.0.0.1:[0-9]*' "$W/jargate.toml" | cut -d: -f2)
JG_ADMIN=$(grep -o '^admin = "127.0.0.1:[0-9]*' "$W/jargate.toml" | cut -d: -f2)
HA_PORT=$((UP_PORT + 2))
UP=
SRV=

cleanup() {
  # jargate exits at once on SIGINT; HAProxy, started in the background, ignores it.
  [ -n "$SRV" ] && kill -INT "$SRV" 2>/dev/null && kill "$SRV" 2>/dev/null || true
  [ -n "$UP" ] && kill "$UP" 2>/dev/null || true
  wait 2>/dev/null || true
}

# Starts nginx once the ports are known free (a server left from an interrupted run would
# take part of the load).
start_upstream() { # $@: the other ports the script listens on
  local port
  for port in "$UP_PORT" "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is busy" >&2
      exit 1
    fi
  done
  trap cleanup EXIT
  nginx -c "$W/nginx.conf" -p "$W/nginx" >/dev/null 2>&1 &
  UP=$!
  sleep 0.5
}
