"""Alerts: what is firing now, what fired before, and the acknowledge and silence actions.

Reads and actions go through ``alerts.operations``, the functions the CLI uses. They are not
cached: the table is small and indexed, and an action must show its effect on the next run.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pandas as pd
import streamlit as st

from finsent.dashboard import actions, data, ui
from finsent.messages import utcnow

log = logging.getLogger(__name__)

_SINCE = {
    "Last 24 hours": timedelta(hours=24),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
}
_DURATIONS = ("30m", "1h", "2h", "4h", "12h", "1d", "7d")
_FLASH = "alerts_flash"

ctx = ui.context()
st.title("Alerts")
if not data.has_alerts(ctx.url):
    st.info("The alerts tables do not exist yet: run `finsent db upgrade`.")
    st.stop()
engine = data.engine(ctx.url)
wall = utcnow()  # actions happen now, even when the charts are pinned to the past


def _frame(alerts: list[actions.AlertView]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": a.id,
                "state": a.state,
                "severity": a.severity,
                "rule": a.rule,
                "scope": a.scope if a.scope_kind == "all" else f"{a.scope_kind}: {a.scope}",
                "started": a.started_at,
                "resolved": a.resolved_at,
                "rate": a.value.get("rate"),
                "baseline": a.value.get("baseline_rate"),
                "z": a.value.get("z"),
                "documents": a.value.get("volume"),
                "acked by": a.acked_by or "",
                "silenced": a.silenced,
            }
            for a in alerts
        ],
        columns=["id", "state", "severity", "rule", "scope", "started", "resolved", "rate", "baseline", "z",
                 "documents", "acked by", "silenced"],
    )  # fmt: skip


_COLUMNS = {
    "id": st.column_config.NumberColumn("Id", format="%d"),
    "state": st.column_config.TextColumn("State"),
    "severity": st.column_config.TextColumn("Severity"),
    "rule": st.column_config.TextColumn("Rule"),
    "scope": st.column_config.TextColumn("Scope"),
    "acked by": st.column_config.TextColumn("Acknowledged by"),
    "started": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm"),
    "resolved": st.column_config.DatetimeColumn("Resolved (UTC)", format="YYYY-MM-DD HH:mm"),
    "rate": st.column_config.NumberColumn("Negative rate", format="percent"),
    "baseline": st.column_config.NumberColumn("Baseline", format="percent"),
    "z": st.column_config.NumberColumn("z", format="%.1f"),
    "documents": st.column_config.NumberColumn("Documents", format="localized"),
    "silenced": st.column_config.CheckboxColumn("Silenced"),
}


def _selected(event: object, frame: pd.DataFrame) -> int | None:
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    return int(frame["id"].iloc[rows[0]]) if rows and rows[0] < len(frame) else None


def _act(label: str, fn, **kwargs) -> None:  # type: ignore[no-untyped-def]
    """Run one action; its outcome shows after the rerun."""
    try:
        result = fn(engine, now=utcnow(), **kwargs)
    except (LookupError, ValueError) as exc:
        st.session_state[_FLASH] = ("error", f"{label} failed: {exc}")
    else:
        log.info("dashboard action", extra={"action": label, "by": kwargs.get("by")})
        st.session_state[_FLASH] = ("success", f"{label}: done ({_describe(result)})")
    data.firing_alerts.clear()
    st.rerun()


def _describe(result: object) -> str:
    if isinstance(result, actions.SilenceView):
        return f"silence {result.id} until {result.ends_at:%Y-%m-%d %H:%M} UTC: {' '.join(result.matchers)}"
    if isinstance(result, actions.AlertView):
        return f"alert {result.id} acknowledged by {result.acked_by}"
    return str(result)


flash = st.session_state.pop(_FLASH, None)
if flash:
    getattr(st, flash[0])(flash[1])

firing = actions.list_alerts(engine, now=wall, state="firing", limit=500)
cols = st.columns(4)
cols[0].metric("Firing", len(firing))
cols[1].metric("Unacknowledged", sum(a.acked_at is None and not a.silenced for a in firing))
cols[2].metric("Silenced", sum(a.silenced for a in firing))
cols[3].metric("Active silences", sum(s.active for s in actions.list_silences(engine, now=wall)))

# Who is acting: recorded in the alert's history, as the CLI's --by is.
actor = st.sidebar.text_input(
    "Acting as", key="alerts_actor", placeholder="your name", help="Recorded with acks and silences."
)

st.subheader("Firing now")
if not firing:
    st.success("Nothing is firing.")
else:
    now_frame = _frame(firing)
    event = st.dataframe(
        now_frame.drop(columns=["state", "resolved"]),
        hide_index=True,
        key="alerts_firing_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config=_COLUMNS,
    )
    ids = [a.id for a in firing]
    picked = _selected(event, now_frame)
    if picked is not None:
        st.session_state["alerts_target"] = picked
    if st.session_state.get("alerts_target") not in ids:
        st.session_state["alerts_target"] = ids[0]
    by_id = {a.id: a for a in firing}
    with st.container(border=True):
        target = st.selectbox(
            "Act on alert",
            ids,
            key="alerts_target",
            format_func=lambda i: f"#{i} {by_id[i].rule} · {by_id[i].scope_kind} {by_id[i].scope}",
        )
        comment = st.text_input("Comment", key="alerts_comment")
        left, mid, right = st.columns([1, 1, 1])
        if left.button(
            "Acknowledge", key="alerts_ack", disabled=by_id[target].acked_at is not None, type="primary"
        ):
            if not actor.strip():
                st.warning("Enter who you are under 'Acting as' in the sidebar first.")
            else:
                _act("Acknowledge", actions.acknowledge, alert_id=target, by=actor.strip(), comment=comment)
        duration = mid.selectbox(
            "Silence for", _DURATIONS, index=2, key="alerts_silence_for", label_visibility="collapsed"
        )
        if right.button("Silence rule on this scope", key="alerts_silence"):
            if not actor.strip():
                st.warning("Enter who you are under 'Acting as' in the sidebar first.")
            else:
                _act(
                    "Silence",
                    actions.silence_alert,
                    alert_id=target,
                    duration=duration,
                    by=actor.strip(),
                    comment=comment,
                )
        alert = by_id[target]
        if alert.scope_kind in ("topic", "ticker", "source"):
            st.page_link(
                "views/topics.py",
                label=f"Open {alert.scope_kind} {alert.scope} in Topics and tickers",
                query_params={"scope_kind": alert.scope_kind, "scope": alert.scope},
            )

st.subheader("History")
since_label = st.selectbox("Started", list(_SINCE), index=1, key="alerts_since")
history = actions.list_alerts(engine, now=wall, since=ctx.now() - _SINCE[since_label], limit=500)
if not history:
    st.info("No alerts in this period.")
else:
    past = _frame(history)
    event = st.dataframe(
        past,
        hide_index=True,
        key="alerts_history_table",
        on_select="rerun",
        selection_mode="single-row",
        column_config=_COLUMNS,
    )
    chosen = _selected(event, past) or int(past["id"].iloc[0])
    events = actions.alert_history(engine, alert_id=chosen)
    st.markdown(f"**Alert #{chosen}: what happened**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "at": e.at,
                    "event": e.kind,
                    "by": e.actor or "",
                    "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items()),
                }
                for e in events
            ],
            columns=["at", "event", "by", "detail"],
        ),  # fmt: skip
        hide_index=True,
        key="alerts_events_table",
        column_config={
            "at": st.column_config.DatetimeColumn("At (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "event": st.column_config.TextColumn("Event"),
            "by": st.column_config.TextColumn("By"),
            "detail": st.column_config.TextColumn("Detail", width="large"),
        },
    )

st.subheader("Silences")
silences = actions.list_silences(engine, now=wall)
if silences:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "id": s.id,
                    "matchers": " ".join(s.matchers),
                    "from": s.starts_at,
                    "until": s.ends_at,
                    "by": s.created_by,
                    "comment": s.comment,
                    "active": s.active,
                }
                for s in silences
            ]
        ),  # fmt: skip
        hide_index=True,
        key="alerts_silences_table",
        column_config={
            "id": st.column_config.NumberColumn("Id", format="%d"),
            "matchers": st.column_config.TextColumn("Matchers", width="large"),
            "by": st.column_config.TextColumn("By"),
            "comment": st.column_config.TextColumn("Comment"),
            "active": st.column_config.CheckboxColumn("Active"),
            "from": st.column_config.DatetimeColumn("From (UTC)", format="YYYY-MM-DD HH:mm"),
            "until": st.column_config.DatetimeColumn("Until (UTC)", format="YYYY-MM-DD HH:mm"),
        },
    )
    left, right = st.columns([3, 1])
    expire = left.selectbox(
        "Silence", [s.id for s in silences], key="alerts_expire_id", label_visibility="collapsed"
    )
    if right.button("Expire now", key="alerts_expire"):
        if not actor.strip():
            st.warning("Enter who you are under 'Acting as' in the sidebar first.")
        else:
            _act("Expire silence", actions.expire_silence, silence_id=expire, by=actor.strip())
else:
    st.caption("No silences in force or scheduled.")
with st.expander("New silence by label matchers"):
    with st.form("alerts_new_silence"):
        matchers = st.text_area("Matchers, one per line", placeholder='ticker="ACME"\nseverity=~"warn.*"')
        how_long = st.selectbox("For", _DURATIONS, index=2)
        why = st.text_input("Comment")
        if st.form_submit_button("Create silence"):
            lines = [m.strip() for m in matchers.splitlines() if m.strip()]
            if not actor.strip():
                st.warning("Enter who you are under 'Acting as' in the sidebar first.")
            else:
                _act(
                    "Silence",
                    actions.silence_matching,
                    matchers=lines,
                    duration=how_long,
                    by=actor.strip(),
                    comment=why,
                )
