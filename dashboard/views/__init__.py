"""The dashboard's pages (Streamlit scripts run by ``st.navigation``) and what they share."""
