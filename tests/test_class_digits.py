"""The class's own handwriting: the collection on disk, who may add and delete, the held-out
quarter, and training with the class's digits mixed in."""

import numpy as np
import pytest

from lenet.data import MAX_PER_STUDENT, ClassDigits, ClassDigitsFull
from lenet.data.class_digits import held_out
from lenet.runs import RunStore
from lenet.serving import STUDENT, TEACHER, Participant
from lenet.training import ConfigError, TrainConfig, train

ANA = Participant("a" * 16, "Ana", STUDENT)
BEN = Participant("b" * 16, "Ben", STUDENT)
TEACH = Participant("t" * 16, "Ms T", TEACHER)


def digit(seed: int) -> np.ndarray:
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4 + seed % 10 : 24, 10:14] = 255  # a stroke that differs from digit to digit
    return pixels


def test_added_digits_come_back_with_label_owner_and_pixels(tmp_path):
    store = ClassDigits.for_runs(tmp_path)
    first = store.add(digit(1), 7, ANA)
    store.add(digit(2), 3, BEN)
    assert store.root == tmp_path / ".class" / "digits"
    got = store.list()
    assert [(d.label, d.owner["name"]) for d in got] == [(7, "Ana"), (3, "Ben")]
    np.testing.assert_array_equal(got[0].pixels(), digit(1))
    assert [d.id for d in store.list(label=7)] == [first.id]
    assert [d.label for d in store.list(owner_id=BEN.id)] == [3]
    pixels, labels, digits = store.arrays()
    assert pixels.shape == (2, 28, 28) and labels.tolist() == [7, 3] and len(digits) == 2
    split, in_order = store.split()
    assert [d.id for d in in_order] == [d.id for d in got]
    assert tuple(split.images.shape) == (2, 1, 32, 32) and split.labels.tolist() == [7, 3]


def test_bad_digits_are_refused_with_a_reason(tmp_path):
    store = ClassDigits(tmp_path)
    with pytest.raises(ValueError, match="28×28 uint8"):
        store.add(np.zeros((32, 32), np.uint8), 1, ANA)
    with pytest.raises(ValueError, match="label is 0 to 9"):
        store.add(digit(0), 10, ANA)
    with pytest.raises(ValueError, match="label is 0 to 9"):
        store.add(digit(0), True, ANA)
    with pytest.raises(ValueError, match="empty"):
        store.add(np.zeros((28, 28), np.uint8), 1, ANA)
    assert store.list() == []


def test_a_student_is_capped_and_deletes_only_their_own_the_teacher_any(tmp_path):
    store = ClassDigits(tmp_path)
    for i in range(MAX_PER_STUDENT):
        store.add(digit(i), i % 10, ANA)
    with pytest.raises(ClassDigitsFull, match=f"you have added {MAX_PER_STUDENT} digits"):
        store.add(digit(0), 1, ANA)
    for i in range(MAX_PER_STUDENT + 3):
        store.add(digit(i), 1, TEACH)  # the teacher has no cap
    ana = store.list(owner_id=ANA.id)
    with pytest.raises(PermissionError, match="only the teacher"):
        store.delete(ana[0].id, BEN)
    store.delete(ana[0].id, ANA)
    store.delete(ana[1].id, TEACH)
    assert len(store.list(owner_id=ANA.id)) == MAX_PER_STUDENT - 2
    store.add(digit(0), 1, ANA)  # room again
    with pytest.raises(KeyError, match="no class digit"):
        store.delete("nope", TEACH)


def test_a_damaged_or_half_written_digit_is_left_out(tmp_path):
    store = ClassDigits(tmp_path)
    kept = store.add(digit(1), 1, ANA)
    gone = store.add(digit(2), 2, ANA)
    (store.root / f"{gone.id}.png").unlink()
    (store.root / "junk.json").write_text("{not json")
    assert [d.id for d in store.list()] == [kept.id]


def test_one_in_four_is_held_out_and_the_parts_split_the_collection(tmp_path):
    store = ClassDigits(tmp_path)
    for i in range(40):
        store.add(digit(i), i % 10, TEACH)
    ids = [d.id for d in store.list()]
    out = [i for i in ids if held_out(i)]
    assert 0 < len(out) < 40 and all(held_out(i) == held_out(i) for i in ids)  # stable
    _, _, train_part = store.arrays("train")
    _, _, held = store.arrays("held_out")
    assert {d.id for d in held} == set(out)
    assert {d.id for d in train_part} | set(out) == set(ids) and not {
        d.id for d in train_part
    } & set(out)


def test_training_mixes_the_class_digits_in_at_the_share_asked(tmp_path):
    store = RunStore(tmp_path)
    digits = ClassDigits.for_runs(tmp_path)
    cfg = TrainConfig(epochs=1, train_subset=300, class_share=0.25, threads=1, log_every=5)
    with pytest.raises(ConfigError, match="no digits to train on yet"):
        train(cfg, store=store)
    for i in range(12):
        digits.add(digit(i), i % 10, TEACH)
    result = train(cfg, store=store)
    assert result.status == "finished"
    start = next(e for e in store.get(result.run_id).events() if e["type"] == "start")
    assert start["class_digits"] == 100 and start["train_images"] == 400  # 100 / 400 = 0.25
    with pytest.raises(ConfigError, match="class_share"):
        TrainConfig(class_share=0.9).validate()
