#!/bin/sh
# Playwright's executablePath for a browser inside a lab namespace: Playwright
# passes its pipe (fds 3 and 4) and flags; `ip netns exec` keeps both and
# execs, so the browser keeps the pid Playwright knows and stops.
# LP2PM_NETNS: the namespace (lp2pm-…); LP2PM_CHROMIUM: the browser binary.
case "$LP2PM_NETNS" in
  lp2pm-*) ;;
  *) echo "netns-chromium.sh: LP2PM_NETNS must name a lab namespace (lp2pm-…)" >&2; exit 2 ;;
esac
exec ip netns exec "$LP2PM_NETNS" "${LP2PM_CHROMIUM:-/usr/bin/chromium}" "$@"
