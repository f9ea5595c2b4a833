#!/usr/bin/env bash
# Starts the local PostgreSQL and RabbitMQ if they are installed but stopped, then waits until both answer.
# A broker that listens but does not answer is restarted; with HOOKLINE_RESET_BROKER=1 (set by CI, whose
# broker is a throwaway test service) one that still does not answer is started again on fresh data, the
# old data moved aside rather than deleted.
set -euo pipefail

wait_for() { # name, seconds, command... (a deadline: one try may itself take seconds)
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "services: $name did not come up within ${seconds}s" >&2
  return 1
}

# What an operator needs to see when the broker will not answer: free disk (a full disk stops RabbitMQ),
# its alarms and the end of its log.
broker_diagnostics() {
  echo "services: --- diagnostics ---" >&2
  df -h /var/lib/rabbitmq /tmp >&2 2>/dev/null || true
  timeout -s KILL 15 rabbitmq-diagnostics -q alarms >&2 2>/dev/null || true
  tail -n 30 /var/log/rabbitmq/*.log >&2 2>/dev/null || true
  echo "services: --- end of diagnostics ---" >&2
}

stop_broker() {
  timeout -s KILL 30 rabbitmqctl stop >/dev/null 2>&1 || true
  pkill -9 -x beam.smp || true
  wait_for "the old broker's exit" 30 bash -c '! pgrep -x beam.smp'
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    echo "services: PostgreSQL is not running on 127.0.0.1:5432 and is not installed here" >&2
    exit 1
  fi
fi
wait_for PostgreSQL 60 pg_isready -q -h 127.0.0.1 -p 5432

amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
# A listening port is not enough: the broker must answer the AMQP handshake (a method frame, type 1).
amqp_answers() {
  timeout -s KILL 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672; printf "AMQP\x00\x00\x09\x01" >&3;
    head -c 1 <&3 | od -An -tx1 | grep -q 01' 2>/dev/null
}

if ! amqp_up; then
  if command -v rabbitmq-server >/dev/null; then
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached || true
  else
    echo "services: RabbitMQ is not running on 127.0.0.1:5672 and is not installed here" >&2
    exit 1
  fi
fi
if wait_for "the RabbitMQ handshake" 60 amqp_answers; then
  echo "services: PostgreSQL and RabbitMQ are up"
  exit 0
fi
command -v rabbitmq-server >/dev/null || exit 1
broker_diagnostics
echo "services: RabbitMQ does not answer; restarting it" >&2
stop_broker
rabbitmq-server -detached || true
if wait_for "the restarted RabbitMQ" 180 amqp_answers; then
  echo "services: PostgreSQL and RabbitMQ are up"
  exit 0
fi
broker_diagnostics
if [ "${HOOKLINE_RESET_BROKER:-0}" != 1 ]; then
  echo "services: RabbitMQ still does not answer; HOOKLINE_RESET_BROKER=1 starts it on fresh data" >&2
  exit 1
fi
data=/var/lib/rabbitmq/mnesia
aside="$data.unanswering-$(date +%Y%m%dT%H%M%S)"
echo "services: RabbitMQ still does not answer; moving its data to $aside and starting it afresh" >&2
stop_broker
mv "$data" "$aside"
install -d -o rabbitmq -g rabbitmq -m 750 "$data" 2>/dev/null || mkdir -p "$data"
rabbitmq-server -detached || true
wait_for "the RabbitMQ started on fresh data" 180 amqp_answers || { broker_diagnostics; exit 1; }
echo "services: PostgreSQL and RabbitMQ are up"
