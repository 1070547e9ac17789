"""The A/B panel of the Evaluation page (layout and widgets; the machinery is `ui.compare`)."""
from __future__ import annotations

import streamlit as st

from recsys.analysis.compare import ALL, BY_KEY, MEASURES
from recsys.analysis.compare_report import SEGMENT_NAMES, UNCALIBRATED
from ui import charts, shell
from ui import compare as ab
from ui import evaluation as ev

DONE = "_compare_done"
COLUMNS = {
    "measure": st.column_config.TextColumn("Measure", width=240),
    "a": st.column_config.TextColumn("A", width=60),
    "b": st.column_config.TextColumn("B", width=60),
    "diff": st.column_config.TextColumn("B − A", width=70),
    "ci": st.column_config.TextColumn("95 % interval", width=130, help="Paired bootstrap over customers"),
    "verdict": st.column_config.TextColumn("Verdict", width=75, help="'noise' where the interval crosses 0"),
    "users": st.column_config.NumberColumn("Customers", format="%d", width=75),
    "help": st.column_config.TextColumn("What it measures", width="large"),
}
KPIS = (("ndcg@10", "NDCG@10"), ("price_vs_usual", "Price / usual"), ("expected_revenue", "Exp. revenue"),
        ("coverage", "Coverage"))


def show(ctx: shell.Context) -> None:
    """Pick A and B, run (in the background), and show the last comparison of this bundle."""
    rec, key = ctx.rec, ctx.key
    folder = key.bundle_dir
    with st.container(border=True):
        st.markdown("**A/B: two configurations on the same customers** · the last 28 days of the training data, "
                    "with the models refitted on the days before: accuracy, price, coverage, novelty and diversity, "
                    "each difference with a 95 % interval; nothing is retrained")
        pick_a, pick_b, go = st.columns([1.2, 1.2, 0.8], vertical_alignment="bottom")
        a_name = pick_a.selectbox("A", ab.options_a(folder), format_func=ab.option_label, key="ab_a",
                                  help="The trained configuration, or one saved in the sidebar")
        b_name = pick_b.selectbox("B", ab.options_b(folder), format_func=ab.option_label, key="ab_b",
                                  help="The knobs as they are now (Recommendations, Basket), or a saved configuration")
        job = ab.job_for(folder)
        problem = None
        try:
            a, b = ab.chosen(rec, key, a_name), ab.chosen(rec, key, b_name)
        except ValueError as exc:
            a = b = None
            problem = str(exc)
        clicked = go.button("Compare", type="primary", icon=":material/compare_arrows:", key="ab_run", width="stretch",
                            disabled=a is None or (job is not None and not job.done),
                            help="Both configurations' top-10s for every customer of the validation window")
        if problem:
            st.warning(problem, icon=":material/block:")
        elif a is not None:
            from recsys.analysis.compare import knob_changes

            changes = knob_changes(a.config, b.config)
            st.caption("B changes " + (", ".join(f"`{c}`" for c in changes) if changes
                                       else "nothing: the same configuration (every difference is 0)"))
        if clicked and a is not None:
            job = ab.start(rec, key, a, b)
        if job is not None:
            _follow(job)
        if DONE in st.session_state:
            st.toast(st.session_state.pop(DONE), icon=":material/task_alt:")
        try:
            saved = ab.saved_result(folder)
        except ValueError as exc:
            st.warning(str(exc), icon=":material/warning:")
            return
        if saved is None:
            st.info("No comparison yet: pick A and B and press Compare. The first one also cuts the validation "
                    "window (the models refitted once, kept beside them for next time).", icon=":material/info:")
            return
        _result(saved, key.stamp, None if a is None else ab.run_key(key, a, b))


def _follow(job) -> None:
    if not job.done:
        with st.status("Comparing A and B…", expanded=True) as status:
            bar = st.progress(job.fraction, text=job.message)
            ev.follow(job, bar)
            status.update(label=f"Compared in {ev.duration(job.elapsed)}" if job.error is None else "Comparison failed",
                          state="complete" if job.error is None else "error", expanded=False)
    ab.jobs.forget(job)
    if job.error is not None:
        shell.show_error(job.error)
    else:
        st.session_state[DONE] = f"Comparison done in {ev.duration(job.elapsed)}: it is kept for next time."
        st.rerun()


def _result(saved: ab.Saved, stamp: str, picked_key: str | None) -> None:
    comp = saved.comparison
    w = comp.window
    st.markdown(f":material/task_alt: **A = {comp.a}, B = {comp.b}** · compared {saved.created:%d %b %Y, %H:%M} UTC "
                f"({ev.ago(saved.created)}) in {ev.duration(saved.meta.get('elapsed_s', 0))}")
    st.caption(f"Validation window {w.get('start')} … {w.get('end')}: {w.get('customers', 0):,} customers asked at "
               "its "
               f"start · B changes {', '.join(comp.changes) or 'nothing'}")
    if comp.info.get("calibrated") is False:
        st.caption(f":material/info: {UNCALIBRATED}.")
    if saved.meta.get("bundle_stamp") != stamp:
        st.warning("This comparison was made with models that have since been retrained: compare again.",
                   icon=":material/history:")
    elif picked_key is not None and saved.meta.get("key") != picked_key:
        st.caption(":material/info: The comparison shown is of the configurations named above, not of the ones "
                   "picked now: press Compare for those.")
    cols = st.columns(len(KPIS) + 1)
    for col, (k, label) in zip(cols, KPIS):
        r = comp.row(k)
        noise = ab.verdict(r) == "noise"
        col.metric(f"{label} · B", ab.value(k, r["b"]), delta=f"{ab.difference(k, r['diff'])} vs A",
                   delta_color="off" if noise else "normal", border=True,
                   help=f"{BY_KEY[k].label}: {BY_KEY[k].help}. A {ab.value(k, r['a'])}; B − A "
                        f"{ab.difference(k, r['diff'])}, 95 % interval {ab.difference(k, r['ci_low'])} … "
                        f"{ab.difference(k, r['ci_high'])} ({ab.verdict(r)})")
    cols[-1].metric("Lists overlap", f"{comp.overlap.get(ALL, 0):.2f}", border=True, delta="Jaccard",
                    delta_color="off", delta_arrow="off",
                    help="Mean Jaccard index of the two top-10s: 1 = the same items, 0 = nothing in common")
    left, right = st.columns([1.35, 1], gap="medium")
    with left:
        st.markdown("**What B changes** · in % of A, with the 95 % interval; grey = noise")
        charts.show(ab.change_chart(comp), key="ab_change")
    with right:
        measure = st.selectbox("Per spending segment", [m.key for m in MEASURES],
                               format_func=lambda k: BY_KEY[k].label, key="ab_segment_measure")
        charts.show(ab.segment_chart(comp, measure), key="ab_segments")
    groups = comp.groups
    head, pick = st.columns([1.3, 1.6], vertical_alignment="center")
    head.markdown("**Every measure** · A, B and B − A with its 95 % interval (paired bootstrap over customers)")
    group = pick.segmented_control("Customers", groups, default=ALL, required=True, key="ab_group",
                                   format_func=lambda g: "All" if g == ALL else SEGMENT_NAMES.get(g, g),
                                   label_visibility="collapsed") or ALL
    frame = ab.measures_frame(comp, group)
    st.dataframe(frame, hide_index=True, key="ab_table", column_config=COLUMNS, height=38 + 35 * len(frame))
    left, right = st.columns([1, 1.6], gap="medium")
    with left:
        st.markdown("**How much the lists overlap**")
        charts.show(ab.overlap_chart(comp), key="ab_overlap")
    with right:
        customer = _pick_customer(comp)
    if customer is not None:
        cols = st.columns(2, gap="small")
        for col, side, name in ((cols[0], "a", comp.a), (cols[1], "b", comp.b)):
            with col:
                st.markdown(f"**{side.upper()}: {name}**")
                st.table(ab.list_view(customer, side), border="horizontal")


def _pick_customer(comp) -> dict | None:
    """One of the customers whose lists differ most (picked), with what sets them apart."""
    customers = comp.differing
    st.markdown("**The customers whose lists differ most** · both lists side by side below, with the reason of "
                "each item")
    if not customers:
        st.caption("No customer's lists differ.")
        return None
    labels = {c["user_id"]: f"{c['user_id']} · {SEGMENT_NAMES.get(c['segment'], c['segment'])} spender · overlap "
                            f"{c['jaccard']:.2f}" for c in customers}
    user = st.selectbox("Customer", list(labels), format_func=labels.get, key="ab_customer")
    c = next(x for x in customers if x["user_id"] == user)
    usual = "–" if c.get("usual_price") is None else f"{c['usual_price']:.2f}"
    st.caption(f"Usual price {usual} · expected revenue {c['expected_revenue_a']:.2f} (A) → "
               f"{c['expected_revenue_b']:.2f} (B) · bought {c['bought_in_window']} distinct items in the window. "
               "✓: the customer bought it in the window; =: the other list has it too.")
    return c
