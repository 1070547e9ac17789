"""Streamlit helpers of the dashboard: settings, data sources, caching, the sidebar, knobs,
charts and tables. The pages in `views/` stay thin and call these; `recsys/` never imports
Streamlit and this package reaches into it only through `recsys.serving.service` / `recsys.config`
(plus the data and bundle helpers the brief names).
"""
