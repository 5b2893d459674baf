"""Multiclass reporting: per-class one-vs-rest AUC and F1 named by class, binary keys
unchanged, the confusion matrix table and figure."""

import numpy as np
import pytest

from graphfuse.errors import DataError
from graphfuse.train import classification_metrics, confusion_figure, confusion_table

Y = np.array([0, 0, 1, 1, 2, 2])
# columns: LumA, LumB, Basal; per-class AUCs worked by hand: 7/8, 1, 6/8 (one tie)
P = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.5, 0.3, 0.2],
        [0.2, 0.6, 0.2],
        [0.1, 0.5, 0.4],
        [0.6, 0.2, 0.2],
        [0.1, 0.3, 0.6],
    ]
)
CLASSES = ["LumA", "LumB", "Basal"]


def test_per_class_auc_and_f1_of_a_hand_made_three_class_example():
    m = classification_metrics(Y, P, classes=CLASSES)
    assert m["roc_auc_LumA"] == pytest.approx(7 / 8)
    assert m["roc_auc_LumB"] == pytest.approx(1.0)
    assert m["roc_auc_Basal"] == pytest.approx(6 / 8)
    assert m["roc_auc"] == pytest.approx((7 / 8 + 1 + 6 / 8) / 3)  # macro one-vs-rest
    # predicted: LumA, LumA, LumB, LumB, LumA, Basal
    assert m["f1_LumA"] == pytest.approx(0.8)
    assert m["f1_LumB"] == pytest.approx(1.0)
    assert m["f1_Basal"] == pytest.approx(2 / 3)
    assert m["f1_macro"] == pytest.approx((0.8 + 1 + 2 / 3) / 3) == m["f1"]
    assert m["accuracy"] == pytest.approx(5 / 6)


def test_per_class_auc_of_a_class_the_patients_lack_is_nan():
    m = classification_metrics(Y[:4], P[:4], classes=CLASSES)
    assert np.isnan(m["roc_auc_Basal"]) and m["f1_Basal"] == 0.0
    assert m["roc_auc_LumB"] == pytest.approx(1.0)


def test_binary_keys_do_not_change_with_classes_and_multiclass_without_classes_neither():
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]])
    keys = {"accuracy", "f1", "f1_macro", "f1_weighted", "roc_auc"}
    assert set(classification_metrics(y, p, classes=["CN", "AD"])) == keys
    assert set(classification_metrics(y, p)) == keys
    assert set(classification_metrics(Y, P)) == keys


def test_class_names_that_collide_are_refused():
    with pytest.raises(DataError, match="not unique"):
        classification_metrics(Y, P, classes=["a b", "a_b", "c"])
    with pytest.raises(DataError, match="not unique"):
        classification_metrics(Y, P, classes=["macro", "b", "c"])  # f1_macro
    with pytest.raises(DataError, match="2 labels for 3"):
        classification_metrics(Y, P, classes=["a", "b"])


def test_confusion_table_counts_true_by_predicted_with_every_class():
    table = confusion_table(Y[:4], P[:4], CLASSES)
    assert list(table.index) == CLASSES and list(table.columns) == CLASSES
    assert table.loc["LumA", "LumA"] == 2 and table.loc["LumB", "LumB"] == 2
    assert table.loc["Basal"].sum() == 0 and table.to_numpy().sum() == 4


def test_confusion_figure_names_the_classes_and_writes_counts():
    fig = confusion_figure(Y, P, CLASSES)
    (ax, _colorbar) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    cells = [t.get_text() for t in ax.texts]
    assert cells[0] == "2\n100%" and cells[3 + 0] == "0\n0%"  # LumA row, LumB row
    assert cells[6] == "1\n50%"  # Basal predicted LumA
