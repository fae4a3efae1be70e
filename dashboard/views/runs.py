"""Runs: every stored run in one table; select some to compare, export, or delete them."""

import streamlit as st

import identity
from formatting import DURATION_HELP, plural, run_table
from lenet import plots
from lenet.runs import MAX_TOTAL_BYTES, curves_from_events, import_run
from lenet.serving.people import may_control
from lenet.training import events as ev
from run_downloads import download_buttons
from run_view import act, show_refusal
from services import job_manager, store
from train_form import describe

st.title("Runs")
st.caption(
    "Every training run on this server. Tick rows to compare their curves, export or delete them."
)

with st.sidebar:
    st.subheader("Import a run")
    upload = st.file_uploader(
        "A run exported as .zip",
        type="zip",
        key="import_zip",
        max_upload_size=MAX_TOTAL_BYTES // 2**20,
    )
    # The uploader keeps its file across reruns: import each upload once, remember the outcome.
    if upload is not None and st.session_state.get("imported_file") != upload.file_id:
        st.session_state.imported_file = upload.file_id
        try:
            run = import_run(store(), upload.getvalue())
            st.session_state.import_result = ("success", f"Imported as run **{run.id}**.")
            st.session_state.table_version = st.session_state.get("table_version", 0) + 1
        except ValueError as e:
            st.session_state.import_result = ("error", f"Not imported: {e}")
    if upload is not None and "import_result" in st.session_state:
        kind, text = st.session_state.import_result
        (st.success if kind == "success" else st.error)(text)

infos = store().list()
if not infos:
    st.info(
        "No runs yet: train one on the Train page, or import a zip in the sidebar.",
        icon=":material/folder_open:",
    )
    st.stop()

table = run_table(infos, identity.names())
wanted = st.query_params.get("run")
preselect = [i for i, r in enumerate(table["run"]) if r == wanted] or [0]
selection = st.dataframe(
    table,
    hide_index=True,
    placeholder="–",  # a run with no score yet
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key=f"runs_table_{st.session_state.get('table_version', 0)}",
    selection_default={"selection": {"rows": preselect, "columns": []}},
    column_config={
        "best test %": st.column_config.NumberColumn(format="%.2f"),
        "lr": st.column_config.NumberColumn(format="%g"),
        "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "message": st.column_config.TextColumn(width="large"),
        "duration": st.column_config.TextColumn(help=DURATION_HELP),
    },
)
chosen = [table["run"][i] for i in selection.selection.rows]
if not chosen:
    st.info("Tick one or more rows to compare their curves.", icon=":material/touch_app:")
    st.stop()

by_id = {i.id: i for i in infos}
series = {
    f"{rid[-6:]} · {describe(by_id[rid].config)}": curves_from_events(store().get(rid).events())
    for rid in chosen
}
loss_col, acc_col = st.columns(2)
loss_col.plotly_chart(plots.compare_runs_figure(series, "loss"), key="compare_loss")
acc_col.plotly_chart(plots.compare_runs_figure(series, "acc"), key="compare_acc")

st.subheader("Selected runs")
me = identity.me()
jm = job_manager()
running = set(jm.active()) | {i.id for i in infos if i.status in (ev.RUNNING, ev.QUEUED)}
show_refusal()
for rid in chosen:
    info = by_id[rid]
    name, export, onnx, note = st.columns([3, 2, 2, 4], vertical_alignment="center")
    name.markdown(f"**{rid}** · {info.status} · {identity.plain(identity.owner_name(info.owner))}")
    download_buttons(export, onnx, info, running=rid in running)
    if info.resumable and may_control(me, info.owner):
        note.button(
            f"Resume from epoch {info.epochs_done}",
            key=f"resume_{rid}",
            icon=":material/replay:",
            on_click=act,
            args=(jm.resume_run, rid, me),
        )
    else:
        note.caption(info.message or " ")

deletable = [r for r in chosen if r not in running and may_control(me, by_id[r].owner)]
if running & set(chosen):
    st.caption(
        "Runs still training or waiting can't be deleted or exported; stop or cancel them on "
        "the Train page first."
    )
if any(not may_control(me, by_id[r].owner) for r in chosen):
    st.caption("Only a run's owner and the teacher can delete it.")
if deletable and st.session_state.get("confirm_delete") != deletable:
    label = f"Delete {plural(len(deletable), 'run')}…"
    if st.button(label, key="delete", icon=":material/delete:"):
        st.session_state.confirm_delete = deletable
        st.rerun()
elif deletable:
    st.warning(
        f"Delete {', '.join(deletable)} for good? Their checkpoints go too.",
        icon=":material/delete_forever:",
    )
    yes, no, _ = st.columns([1, 1, 4])
    if yes.button("Yes, delete", type="primary", key="delete_yes"):
        failed = []
        for rid in deletable:
            try:
                jm.delete_run(rid, me)
            except (KeyError, RuntimeError, OSError, PermissionError) as e:
                failed.append(f"{rid}: {e}")
        st.session_state.pop("confirm_delete")
        st.session_state.table_version = st.session_state.get("table_version", 0) + 1
        if wanted in deletable:
            del st.query_params["run"]
        if failed:
            st.error("Not deleted: " + "; ".join(failed))
        else:
            st.rerun()
    if no.button("Cancel", key="delete_no"):
        st.session_state.pop("confirm_delete")
        st.rerun()
