import numpy as np
import torch

from graphfuse.data import Preprocessor
from graphfuse.graphs import KNNBuilder, build_patient_graph, edge_type, feature_key


def test_structure(graph, cohort, splits):
    store = graph["patient"]
    assert store.num_nodes == cohort.n_patients
    assert graph.modalities == cohort.modalities
    assert store.available.shape == (cohort.n_patients, len(cohort.modalities))
    assert torch.equal(store.y, torch.as_tensor(cohort.y))
    masks = store.train_mask.int() + store.val_mask.int() + store.test_mask.int()
    assert (masks == 1).all()
    assert graph.builder == "knn" and graph.transductive is False
    for m in cohort.modalities:
        assert store[feature_key(m)].shape[1] == len(graph.feature_names[m])


def test_each_patient_with_a_modality_has_k_neighbours_there_none_without(graph, cohort):
    avail = cohort.availability
    train = graph["patient"].train_mask.numpy()
    for j, m in enumerate(cohort.modalities):
        ei = graph[edge_type(m)].edge_index.numpy()
        has = avail[m].to_numpy()
        assert np.array_equal(graph["patient"].available[:, j].numpy(), has)
        indeg = np.bincount(ei[1], minlength=cohort.n_patients)
        assert (indeg[has] >= 4).all()
        assert (indeg[has & ~train] == 4).all()
        touched = np.unique(ei)
        assert has[touched].all(), f"{m}: an edge touches a patient lacking it"
        assert train[ei[0]].all(), f"{m}: inductive graph sends messages from non-training patients"


def test_inductive_training_graph_ignores_held_out_features(cohort, splits, matrices, graph):
    # scramble held-out patients' features: training patients' edges must not change
    held = np.concatenate([splits["val"], splits["test"]])
    scrambled = {}
    for m, mat in matrices.items():
        x = mat.x.copy()
        rows = held[mat.available[held]]
        x[rows] = np.random.default_rng(0).normal(size=(len(rows), x.shape[1]))
        scrambled[m] = type(mat)(mat.name, mat.kind, x, mat.features, mat.available)
    other = build_patient_graph(scrambled, cohort.y, splits, KNNBuilder(k=4))
    train = graph["patient"].train_mask.numpy()
    for m in cohort.modalities:
        a = graph[edge_type(m)].edge_index.numpy()
        b = other[edge_type(m)].edge_index.numpy()
        ea = {tuple(e) for e in a.T if train[e[1]]}
        eb = {tuple(e) for e in b.T if train[e[1]]}
        assert ea == eb


def test_transductive_mode_fits_on_everyone(cohort, splits):
    mats = Preprocessor().fit(cohort, splits["train"]).transform(cohort)
    g = build_patient_graph(mats, cohort.y, splits, KNNBuilder(k=4), transductive=True)
    assert g.transductive is True
    train = g["patient"].train_mask.numpy()
    ei = g[edge_type("expression")].edge_index.numpy()
    assert not train[ei[0]].all()  # held-out patients are neighbours too
