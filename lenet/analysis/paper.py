"""The reproduction against the paper: its published numbers beside ours, for the Paper page.

`PAPER_TABLE` (sec. II.B's counts) lives with the model in `lenet.models.paper`; here are the
paper's test errors, what each variant changed since 1998, and the comparisons drawn from
`summary` rows and stored runs.
"""

from __future__ import annotations

from lenet.models.paper import PAPER_TABLE

__all__ = ["PAPER_TEST_ERROR", "PAPER_TEST_ERROR_DISTORTED", "CHANGES", "compare_with_paper",
           "best_runs"]  # fmt: skip

PAPER_TEST_ERROR = 0.95  # % on MNIST's test set, sec. III.C, no distortions
PAPER_TEST_ERROR_DISTORTED = 0.8  # % with the training set distorted at random each pass

# What each variant does, stage by stage (the paper column is the 1998 design, sec. II.B-III.C).
CHANGES: dict[str, dict[str, str]] = {
    "activation": {"paper": "1.7159·tanh(2/3·a)", "classic": "tanh", "modern": "ReLU"},
    "pooling": {
        "paper": "2×2 sum × trainable coef + bias, squashed",
        "classic": "2×2 average + tanh",
        "modern": "2×2 max",
    },
    "C3": {
        "paper": "60 of 96 kernels (Table I)",
        "classic": "all 96 kernels",
        "modern": "all 96 kernels",
    },
    "output": {
        "paper": "Euclidean RBF, fixed 7×12 bitmaps",
        "classic": "linear (logits)",
        "modern": "linear (logits)",
    },
    "loss": {
        "paper": "right class's RBF penalty + competition (MAP, eq. 9)",
        "classic": "cross-entropy",
        "modern": "cross-entropy",
    },
    "optimizer": {
        "paper": "SDLM, η per pass, one pattern per update",
        "classic": "Adam, one-cycle schedule",
        "modern": "Adam, one-cycle schedule",
    },
}


def compare_with_paper(rows: list[dict]) -> list[dict]:
    """`lenet.model.summary` rows of the paper variant beside `PAPER_TABLE`, one row per layer:
    our and the paper's parameters and connections, and "✓"/"✗" ("—" where the paper gives
    no number)."""
    out = []
    for r in rows:
        ref = PAPER_TABLE.get(r["layer"], {})
        same = [ref[k] == r[k] for k in ("parameters", "connections") if k in ref]
        out.append(
            {
                "layer": r["layer"],
                "kind": r["kind"],
                "output": "×".join(map(str, r["output_shape"])),
                "paper parameters": ref.get("parameters"),
                "our parameters": r["parameters"],
                "paper connections": ref.get("connections"),
                "our connections": r["connections"],
                "match": "—" if not same else ("✓" if all(same) else "✗"),
            }
        )
    return out


def best_runs(
    infos: list, variants: tuple[str, ...] = ("paper", "classic", "modern"), distorted: bool = False
) -> dict[str, object | None]:
    """The stored run with the best test accuracy per variant (`RunInfo`s), None if none;
    only runs trained on distorted patterns if `distorted`, else only runs without."""
    best: dict[str, object | None] = dict.fromkeys(variants)
    for info in infos:
        acc = getattr(info, "best_test_acc", None)
        if bool((getattr(info, "config", None) or {}).get("distort")) != distorted:
            continue
        if (
            info.variant in best
            and acc is not None
            and (best[info.variant] is None or acc > best[info.variant].best_test_acc)
        ):
            best[info.variant] = info
    return best
