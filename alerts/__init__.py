"""finsent alerts: negative-sentiment spike detection with email and Slack notifications that are never lost.

Read top-down:
  rules.py      the rules file (rules, route tree, receivers, inhibit rules) and its defaults
  detect.py     the spike test: pure statistics over counts
  counts.py     window and baseline sums over rollups (with an exact hourly cache)
  evaluate.py   every rule over every scope at one instant
  state.py      firing / resolved alerts and their history
  routing.py    Alertmanager's routing tree, grouping, inhibition, silences (pure)
  dispatch.py   group timers -> outbox rows (plan) and sending (deliver)
  outbox.py     recorded-then-sent notifications with retry and backoff
  render.py     what an email and a Slack message say;  headlines.py  the headlines they show
  notify/       SMTP and Slack webhook notifiers (injected sender / httpx client)
  cycle.py      one evaluation cycle and one dispatch tick;  scheduler.py  APScheduler around them
  wiring.py     assembly from settings;  operations.py  list/ack/silence for the CLI and dashboard
  backtest.py   replay history;  bench.py  the 10-million-row benchmark;  cli.py  `finsent alerts`
Exceptions: errors.py.
"""

__all__: list[str] = []
