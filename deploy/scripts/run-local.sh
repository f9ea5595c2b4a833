#!/usr/bin/env bash
# Runs registry, ingest and one delivery worker in the foreground against the local services.
# Ctrl-C stops all three.
set -euo pipefail
bin=${BIN_DIR:-target/debug}

# The development settings (deploy/dev.env), each unless the environment already sets it.
while IFS= read -r line; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    key=${line%%=*}
    [[ -n "${!key:-}" ]] || export "$line"
done < "$(dirname "$0")/../dev.env"

"$bin/hookline-registry" migrate

pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT

label() { sed -u "s/^/[$1] /"; }
# Process substitution keeps $! the service's own pid, so the trap signals the services themselves.
"$bin/hookline-registry" serve > >(label registry) 2>&1 & pids+=($!)
"$bin/hookline-ingest" > >(label ingest) 2>&1 & pids+=($!)
"$bin/hookline-delivery" > >(label delivery) 2>&1 & pids+=($!)
"$bin/hookline-console" > >(label console) 2>&1 & pids+=($!)

admin=$("$bin/hookline" token mint --org org_demo --role org_admin --role publisher --sub demo-admin)
console_link=$("$bin/hookline" console link --org org_demo --role org_admin --sub demo-admin --ttl 1h)

cat <<TXT

Hookline is running: registry on :50051, ingest on :50052 (health on :8081, :8082, :8083), and the
console on :8084. Open the console as org_demo's admin (the link signs you in; valid 1 h):

  $console_link

A development token for org_demo (org_admin and publisher, valid 12 h):

  export TOKEN=$admin

Try it with the hookline CLI (table output; add --output json for scripts):

  export HOOKLINE_TOKEN=\$TOKEN
  $bin/hookline webhooks create --name Demo --url http://127.0.0.1:9000/hooks --event-type job.completed --enabled
  $bin/hookline listen --port 9000 --secret <the whsec_ secret printed above>     # in another terminal
  $bin/hookline events publish --type job.completed --data '{"jobId":"J-1"}'
  $bin/hookline deliveries list

Or with grpcurl (no proto files needed; reflection is on):

  grpcurl -plaintext localhost:50051 list
  grpcurl -plaintext -H "authorization: Bearer \$TOKEN" -d '{"name":"Demo","url":"http://127.0.0.1:9000/hooks",
      "status":"WEBHOOK_STATUS_ENABLED","event_types":["job.completed"]}' \
      localhost:50051 hookline.v1.WebhookRegistry/CreateWebhook
  grpcurl -plaintext -H "authorization: Bearer \$TOKEN" -d '{"event_type":"job.completed","data":{"jobId":"J-1"}}' \
      localhost:50052 hookline.v1.EventIngest/PublishEvent
  grpcurl -plaintext -H "authorization: Bearer \$TOKEN" -d '{}' localhost:50051 hookline.v1.WebhookRegistry/ListDeliveries

Other tokens: $bin/hookline token mint --org <org> --role <super_admin|org_admin|publisher|viewer>
Ctrl-C stops everything.
TXT
wait -n || true
