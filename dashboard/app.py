"""The dashboard's entry script (``finsent dashboard`` runs it with ``streamlit run``).

Every run: settings from the environment, the access gate, the sidebar, then the chosen page.
A link to the root with ``?scope_kind=ticker&scope=XOM`` (what alert notifications carry)
opens that scope's detail on the Topics and tickers page.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from finsent.dashboard import ui
from finsent.settings import get_settings

settings = get_settings()
ui.setup(settings)
ui.gate(settings)
ui.sidebar(settings)

overview = st.Page(
    "views/overview.py", title="Overview", icon=":material/monitoring:", url_path="overview", default=True
)
topics = st.Page(
    "views/topics.py", title="Topics and tickers", icon=":material/leaderboard:", url_path="topics"
)
pages = [
    overview,
    topics,
    st.Page("views/headlines.py", title="Headlines", icon=":material/article:", url_path="headlines"),
    st.Page("views/stories.py", title="Stories", icon=":material/content_copy:", url_path="stories"),
    st.Page("views/alerts.py", title="Alerts", icon=":material/notifications:", url_path="alerts"),
    st.Page("views/model.py", title="Model", icon=":material/model_training:", url_path="model"),
]
current = st.navigation(pages)
if current.url_path == overview.url_path and ui.scope_link() is not None:
    st.switch_page(topics, query_params=dict(st.query_params))
try:
    current.run()
except SQLAlchemyError as exc:  # the database went away mid-page: say so, not a traceback
    ui.database_unavailable(settings, exc)
