"""Evaluation: every model next to simple baselines on a temporal hold-out, whether the hybrid's
lead is real, how it does per spending segment, whether its confidence is honest, and what a knob
costs in accuracy for what it gains in basket value. Runs on demand (minutes); the last report
of each data source is kept on disk."""
import streamlit as st

from ui import charts, compare_panel, shell, widgets
from ui import evaluation as ev
from ui.fit import show_fit, show_ranker

DONE = "_evaluation_done"
ctx = shell.context()
source = ctx.source
widgets.header("Evaluation", ev.PROTOCOL)

try:
    target, problem = ev.target_for(source, ctx.rec), None
except (ValueError, OSError) as exc:
    target, problem = None, str(exc)
try:
    saved, unreadable = ev.saved_report(source), None
except ValueError as exc:
    saved, unreadable = None, str(exc)
job = ev.job_for(source)

# ---- the run bar ---------------------------------------------------------------------------
with st.container(border=True):
    info, action = st.columns([3.2, 1], vertical_alignment="center")
    with info:
        if saved is not None:
            data = saved.meta.get("data", {})
            st.markdown(f":material/task_alt: **Last report** · {saved.created:%d %b %Y, %H:%M} UTC "
                        f"({ev.ago(saved.created)}) · took {ev.duration(saved.meta.get('elapsed_s', 0))}")
            st.caption(f"{saved.meta.get('source_label', source.label)}: {data.get('lines', 0):,} sales lines, "
                       f"{data.get('customers', 0):,} customers, {data.get('items', 0):,} items · test window "
                       f"from {str(saved.report.info.get('cutoff', '?'))[:10]} · the config the models were "
                       "trained with")
        else:
            st.markdown(":material/pending: **No report yet for this data source**")
            st.caption("Running the evaluation trains every model again on each split: under a minute on "
                       "the demo store, a few minutes on a large workbook. The report is kept for next time.")
    clicked = action.button("Run evaluation", type="primary", icon=":material/play_arrow:", key="ev_run",
                            disabled=target is None or (job is not None and not job.done), width="stretch",
                            help="Train every model on the days before the hold-out and score it on the days after")
if problem:
    st.warning(f"This data source cannot be evaluated: {problem}.", icon=":material/block:")
if unreadable:
    st.warning(unreadable, icon=":material/warning:")

if clicked and target is not None:
    job = ev.start(source, target)
if job is not None:
    if not job.done:
        with st.status(f"Evaluating on {job.target.source_label}…", expanded=True) as status:
            st.caption("Training every model on each split, then scoring, comparing and sweeping the knobs. "
                       "You may leave the page: the report is saved when it is done.")
            bar = st.progress(job.fraction, text=job.message)
            ev.follow(job, bar)  # inside the block: leaving it marks the status complete
            if job.error is None:
                status.update(label=f"Evaluation done in {ev.duration(job.elapsed)}", state="complete",
                              expanded=False)
            else:
                status.update(label="Evaluation failed", state="error", expanded=False)
    ev.forget(job)
    if job.error is not None:
        shell.show_error(job.error)
    else:  # the whole page again, from the saved report
        st.session_state[DONE] = f"Evaluation done in {ev.duration(job.elapsed)}: the report is saved."
        st.rerun()
if DONE in st.session_state:
    st.toast(st.session_state.pop(DONE), icon=":material/task_alt:")

# ---- the fit -------------------------------------------------------------------------------
if ctx.rec is not None:
    with st.container(border=True):
        st.markdown("**The hybrid fitted to this store** · chosen at training time on validation windows "
                    "cut from the training data; the report's test window is read once, after")
        show_fit(ctx.rec, "ev_fit")
        st.markdown("**The learned ranker** · ranker, fitted blend and every source on the later validation window")
        show_ranker(ctx.rec, "ev_ranker")

# ---- A/B: two configurations ----------------------------------------------------------------
if ctx.rec is not None:
    compare_panel.show(ctx)

if saved is None:
    st.info("Run the evaluation to see how the models compare on this data.", icon=":material/info:")
    st.stop()

report = saved.report
if target is not None and saved.key != target.key:
    st.warning("This report was computed before the data or the models of this source changed "
               f"(on {saved.created:%d %b %Y, %H:%M} UTC). Run the evaluation again to refresh it.",
               icon=":material/history:")

# ---- headline ------------------------------------------------------------------------------
kpis = ev.kpis(report)
cols = st.columns(len(kpis) + 1)
for col, (label, value, delta, against, help_) in zip(cols, kpis):
    col.metric(f"NDCG@10 · {label}", value, delta=delta, delta_description=against, help=help_,
               border=True, height="stretch")
cols[-1].metric("Calibration error (ECE)", f"{report.ece:.3f}", border=True, height="stretch",
                delta="lower is better", delta_color="off", delta_arrow="off",
                help="Expected calibration error of the hybrid's confidence on its top 10: the average gap "
                     "between the stated chance and the observed purchase rate (0 = honest)")

# ---- scores --------------------------------------------------------------------------------
table = report.table
metrics = ev.metric_columns(table)
with st.container(border=True):
    head, pick = st.columns([2.6, 1], vertical_alignment="center")
    head.markdown("**Scores per model and scenario** · the grey bars are the simple baselines")
    metric = pick.selectbox("Metric", metrics, index=metrics.index("ndcg@10") if "ndcg@10" in metrics else 0,
                            format_func=ev.metric_label, key="ev_metric", label_visibility="collapsed",
                            persist_state="session")
    charts.show(ev.score_bars(table, metric), key="ev_scores")

with st.container(border=True):
    head, f1, f2 = st.columns([1.3, 1.3, 1], vertical_alignment="center")
    head.markdown("**The evaluation table** · one row per model, scenario and mode")
    scenario_names = {"loyal": "Loyal customers", "new_customers": "New customers"}
    mode_names = {"all": "All items", "new": "New to them"}
    scenarios = list(dict.fromkeys(table["scenario"]))
    modes = list(dict.fromkeys(table["mode"]))
    pick_s = f1.pills("Scenario", scenarios, selection_mode="multi", default=scenarios, key="ev_f_scenario",
                      format_func=lambda s: scenario_names.get(s, s), label_visibility="collapsed")
    pick_m = f2.pills("Mode", modes, selection_mode="multi", default=modes, key="ev_f_mode",
                      format_func=lambda m: mode_names.get(m, m), label_visibility="collapsed")
    shown = table[table["scenario"].isin(pick_s or scenarios) & table["mode"].isin(pick_m or modes)].copy()
    shown["model"] = shown["model"].map(ev.model_label)
    shown["scenario"] = shown["scenario"].map(lambda s: scenario_names.get(s, s))
    shown["mode"] = shown["mode"].map(lambda m: mode_names.get(m, m))
    extra = [c for c in ("exclusion_violations",) if c in shown and shown[c].fillna(0).ne(0).any()]
    cc = st.column_config
    st.dataframe(shown, hide_index=True, key="ev_table", height=min(36 + 35 * len(shown), 800),
                 column_order=["model", "scenario", "mode", "n_users", *metrics, *extra],
                 column_config={"model": cc.TextColumn("Model", pinned=True, width=150), "scenario": cc.TextColumn("Scenario"),
                                "mode": cc.TextColumn("Items", help="All items bought, or only items the customer "
                                                                    "had not bought before"),
                                "n_users": cc.NumberColumn("Customers", format="%d"),
                                "exclusion_violations": cc.NumberColumn("Exclusion violations", format="%g"),
                                **{m: ev.metric_config(m) for m in metrics}})
    st.download_button("Download the table (CSV)", table.to_csv(index=False).encode("utf-8"),
                       file_name=f"evaluation-{source.key}.csv", mime="text/csv", icon=":material/download:",
                       key="ev_csv", type="tertiary")

# ---- significance --------------------------------------------------------------------------
sig = report.significance
if not sig.empty:
    with st.container(border=True):
        head, pick = st.columns([1.3, 1], vertical_alignment="center")
        head.markdown("**Is the hybrid really better?** · paired bootstrap over customers on NDCG@10; "
                      "*noise* where the 95 % interval crosses 0")
        cases = list(dict.fromkeys(sig["scenario"] + "|" + sig["mode"]))  # plain strings as options
        case = pick.segmented_control("Scenario", cases, default=cases[0], required=True, key="ev_sig_case",
                                      format_func=lambda c: ev.case_label(*c.split("|"), short=True),
                                      label_visibility="collapsed") or cases[0]
        part = sig[sig["scenario"] + "|" + sig["mode"] == case].reset_index(drop=True)
        left, right = st.columns([1.8, 1], gap="medium")
        with left:
            st.dataframe(ev.style_verdicts(ev.significance_view(part)), hide_index=True, key="ev_sig",
                         column_config=ev.SIGNIFICANCE_COLUMNS,
                         column_order=[c for c in ev.SIGNIFICANCE_COLUMNS if c not in ("case", "hybrid")])
            st.caption(f"{ev.case_label(*case.split('|'))}: the hybrid's NDCG@10 is {part['hybrid'].iloc[0]:.3f}; "
                       "the interval is where the true lead lies with 95 % confidence.")
        with right:
            charts.show(ev.significance_chart(part), key="ev_sig_chart")

# ---- segments and calibration --------------------------------------------------------------
left, right = st.columns([1, 1.25], gap="medium")
with left, st.container(border=True, height="stretch"):
    st.markdown("**Per spending segment** · hybrid NDCG@10, loyal customers, all items")
    seg = report.by_segment
    if seg.empty:
        st.caption("No segment figures in this report.")
    else:
        charts.show(ev.segment_bars(seg), key="ev_segments")
        st.caption("Customers scored: " + ", ".join(f"{s} {int(n):,}" for s, n in
                                                     ev.ordered_segments(seg)[["label", "count"]].to_numpy()))
with right, st.container(border=True, height="stretch"):
    st.markdown(f"**Is the confidence honest?** · reliability of the hybrid's top 10, ECE {report.ece:.3f}")
    charts.show(ev.reliability_chart(report.reliability), key="ev_reliability")
    st.caption("On the dashed diagonal a stated 30 % is bought 30 % of the time; the bars count the "
               "recommendations per confidence bin.")

# ---- what if -------------------------------------------------------------------------------
if report.sweeps:
    with st.container(border=True):
        head, pick = st.columns([2.6, 1], vertical_alignment="center")
        head.markdown("**What if** · one knob moved, everything else as trained: accuracy against the price "
                      "of what is recommended (loyal customers, all items; no retraining)")
        knobs = list(report.sweeps)
        knob = pick.selectbox("Knob", knobs, format_func=ev.knob_label, key="ev_knob",
                              label_visibility="collapsed", persist_state="session")
        sweep = report.sweeps[knob]
        base = saved.meta.get("base_values", {}).get(knob)
        left, right = st.columns([1.7, 1], gap="medium")
        with left:
            charts.show(ev.sweep_chart(sweep, base, knob), key="ev_sweep")
        with right:
            st.dataframe(ev.sweep_view(sweep, base), hide_index=True, key="ev_sweep_table",
                         column_config=ev.SWEEP_COLUMNS)
            st.markdown(ev.trade_off(sweep, base, knob))
            if knob.startswith("budget_tolerance"):
                st.caption("Swept with a price sensitivity of 1: items dearer than the tolerance × the customer's "
                           "average item price are pushed down.")
            else:
                st.caption("The ringed point is the setting the models were trained with.")
