#!/usr/bin/env bash
# Starts the local PostgreSQL and RabbitMQ if they are installed but stopped, then waits until both answer.
set -euo pipefail

wait_for() { # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "services: $name did not come up within ${seconds}s" >&2
  return 1
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
if ! amqp_up; then
  if command -v rabbitmq-server >/dev/null; then
    echo "services: starting RabbitMQ"
    rabbitmq-server -detached || true
  else
    echo "services: RabbitMQ is not running on 127.0.0.1:5672 and is not installed here" >&2
    exit 1
  fi
fi
wait_for RabbitMQ 120 amqp_up

# A listening port is not enough: the broker must answer the AMQP handshake (a method frame, type 1).
amqp_answers() {
  timeout -s KILL 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5672; printf "AMQP\x00\x00\x09\x01" >&3;
    head -c 1 <&3 | od -An -tx1 | grep -q 01' 2>/dev/null
}
if ! wait_for "the RabbitMQ handshake" 30 amqp_answers; then
  if command -v rabbitmq-server >/dev/null; then
    echo "services: RabbitMQ accepts connections but does not answer; restarting it" >&2
    timeout -s KILL 30 rabbitmqctl stop >/dev/null 2>&1 || pkill -9 -f beam.smp || true
    sleep 2
    rabbitmq-server -detached || true
    wait_for RabbitMQ 120 amqp_answers
  else
    exit 1
  fi
fi
echo "services: PostgreSQL and RabbitMQ are up"
