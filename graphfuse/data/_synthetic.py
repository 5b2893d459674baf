"""A seeded Alzheimer's-disease-like cohort with planted ground truth.

The built-in cohort lets every stage be checked against known answers: which genes,
pathways, methylation probes, imaging regions and clinical variables carry the disease
signal is decided by the seed and recorded in ``cohort.truth``.

Generative model (all effects scale with ``effect_size``; 0 gives a cohort with no signal)
-----------------------------------------------------------------------------------------
- label: AD with probability ``prevalence``, else CN (control).
- expression (omics): genes are grouped into pathways; each patient has one latent
  activity per pathway, and a gene's log-expression is its baseline plus a loading
  times the activity of its pathway plus noise, so genes of a pathway are correlated.
  In the disease pathways the activity is shifted up or down for AD patients. The
  gene-set collection (``uns["gene_sets"]``) holds each pathway's genes plus a few
  members from elsewhere, as real collections overlap.
- methylation (omics): probes mapped to genes (``var["gene"]``), several per gene for
  some genes; the M-value follows the negative activity of the gene's pathway, reported
  as beta values in (0, 1). Probes of disease genes therefore carry signal.
- imaging: regional volumes sharing a head-size factor; AD shrinks medial temporal
  regions and enlarges the ventricles.
- clinical: age, sex, education years, APOE e4 allele count and a cognitive score,
  with some values missing at random.
- missing modalities: a fraction of patients lacks imaging, and independently a
  fraction lacks methylation (missing completely at random).
- survival (``survival=True``): an event time per patient from a proportional-hazards
  model whose log hazard ratio is the patient's signed disease-pathway activity (which
  includes the AD shift), ``0.7 * effect_size * sum_p direction_p * activity_p /
  sqrt(n_disease_pathways)``, over an exponential baseline with median 60 (months);
  independent exponential censoring (about ``censoring`` of patients at average risk).
  ``obs["time"]`` and ``obs["event"]`` (1 = event observed) hold the outcome; the true
  log hazard ratios are ``uns["truth"]["survival_risk"]``. The survival draws come last,
  so every other table is the same as without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from graphfuse.data._cohort import Cohort

__all__ = ["make_synthetic_cohort"]

_DISEASE_PATHWAY_NAMES = [
    "AMYLOID_BETA_CLEARANCE",
    "TAU_PROTEIN_PHOSPHORYLATION",
    "MICROGLIAL_ACTIVATION",
    "SYNAPTIC_VESICLE_CYCLE",
    "CHOLESTEROL_TRANSPORT",
    "COMPLEMENT_CASCADE",
    "MITOCHONDRIAL_RESPIRATION",
    "INSULIN_SIGNALLING",
    "ENDOSOMAL_TRAFFICKING",
    "NEUROINFLAMMATION",
]

_REGIONS = [
    # medial temporal lobe first: these carry the planted atrophy
    "hippocampus",
    "entorhinal",
    "amygdala",
    "parahippocampal",
    "inferiortemporal",
    "middletemporal",
    "fusiform",
    "precuneus",
    "posteriorcingulate",
    "inferiorparietal",
    "superiorparietal",
    "supramarginal",
    "superiortemporal",
    "bankssts",
    "temporalpole",
    "transversetemporal",
    "insula",
    "isthmuscingulate",
    "caudalanteriorcingulate",
    "rostralanteriorcingulate",
    "caudalmiddlefrontal",
    "rostralmiddlefrontal",
    "superiorfrontal",
    "lateralorbitofrontal",
    "medialorbitofrontal",
    "parsopercularis",
    "parsorbitalis",
    "parstriangularis",
    "precentral",
    "postcentral",
    "paracentral",
    "frontalpole",
    "cuneus",
    "lingual",
    "pericalcarine",
    "lateraloccipital",
    "thalamus",
    "caudate",
    "putamen",
    "pallidum",
    "accumbens",
    "ventraldc",
    "cerebellumcortex",
    "cerebellumwhitematter",
    "choroidplexus",
    "cerebralwhitematter",
    "lateralventricle",
    "inferiorlateralventricle",
    "brainstem",
    "corpuscallosum",
]
_ATROPHY = {"hippocampus": 1.0, "entorhinal": 1.0, "amygdala": 0.8, "parahippocampal": 0.6}
_ENLARGE = {"inferiorlateralventricle": 1.0, "lateralventricle": 0.6}

_CHUNK = 8192  # patients generated at a time: bounds memory at 100k patients


def make_synthetic_cohort(
    n_patients: int = 600,
    *,
    n_genes: int = 2000,
    n_pathways: int = 200,
    n_regions: int = 100,
    probes_per_gene: float = 0.5,
    n_disease_pathways: int = 5,
    effect_size: float = 1.0,
    prevalence: float = 0.5,
    clinical_missing: float = 0.05,
    missing: dict[str, float] | None = None,
    survival: bool = False,
    censoring: float = 0.3,
    seed: int | np.random.Generator = 0,
    new_patients: Mapping[str, int] | None = None,
) -> Cohort:
    """Generate an AD-like multimodal cohort with planted disease genes, pathways and regions.

    Parameters
    ----------
    n_patients
        Number of patients (50 to 100,000 and beyond; generated in chunks).
    n_genes, n_pathways
        Size of the expression modality and of its pathway collection.
    n_regions
        Number of imaging features (regions; left/right hemispheres alternate).
    probes_per_gene
        Methylation probes per gene on average (``round(n_genes * probes_per_gene)`` probes).
    n_disease_pathways
        Pathways whose activity differs between AD and CN.
    effect_size
        Multiplies every planted effect; 0 removes all disease signal.
    prevalence
        Fraction of AD patients (expected).
    clinical_missing
        Fraction of clinical values (except sex) missing at random.
    missing
        Fraction of patients lacking each optional modality:
        ``{"imaging": 0.2, "methylation": 0.15}`` by default.
    survival
        Add a survival outcome driven by the disease pathways (``obs["time"]``,
        ``obs["event"]``; see the module notes).
    censoring
        Share of censored patients among those at average risk (``survival`` only).
    seed
        Seed or generator; the same seed gives the same cohort.
    new_patients
        ``{"n": n, "seed": s}``: instead of this cohort's patients, ``n`` other patients
        drawn with seed ``s`` from the biology (genes, pathway structure and effects,
        methylation probes, regional baselines) this cohort's ``seed`` and ``n_patients``
        give, with ids ``N<s>_000000``...: patients a model fitted on the cohort has never
        seen, from the same population.

    Returns
    -------
    Cohort
        Modalities ``expression``, ``methylation`` (omics, ``var["gene"]``), ``imaging``,
        ``clinical``; ``obs["label"]`` is categorical ``["CN", "AD"]``. ``uns["truth"]``
        records the planted ``genes``, ``pathways``, ``probes``, ``imaging_regions`` and
        ``clinical`` variables (and with ``survival`` the true log hazard ratios,
        ``survival_risk``); ``uns["gene_sets"]`` the pathway collection;
        ``uns["synthetic"]`` the parameters.

    Examples
    --------
    >>> cohort = make_synthetic_cohort(100, effect_size=1.5, seed=1)
    >>> cohort.truth["pathways"][:2]  # doctest: +SKIP
    ['SYN_AMYLOID_BETA_CLEARANCE', 'SYN_TAU_PROTEIN_PHOSPHORYLATION']
    """
    missing = _check_parameters(
        n_genes, n_pathways, n_disease_pathways, missing=missing, censoring=censoring
    )
    rng = np.random.default_rng(seed)
    params = {
        "n_patients": n_patients,
        "n_genes": n_genes,
        "n_pathways": n_pathways,
        "n_regions": n_regions,
        "probes_per_gene": probes_per_gene,
        "n_disease_pathways": n_disease_pathways,
        "effect_size": effect_size,
        "prevalence": prevalence,
        "clinical_missing": clinical_missing,
        "missing": missing,
        "survival": survival,
        "censoring": censoring,
        "seed": seed if isinstance(seed, int) else None,
    }

    # The draws from ``rng`` happen in this order, so a seed always gives the same cohort.
    patients = pd.Index([f"P{i:06d}" for i in range(n_patients)], name="patient")
    y = (rng.random(n_patients) < prevalence).astype(np.int8)
    pathways = _pathway_structure(rng, n_genes, n_pathways, n_disease_pathways, effect_size)
    probes = _methylation_probes(rng, pathways, probes_per_gene)
    region_base = None
    if new_patients is not None:  # the cohort's biology, then other patients of it
        _omics(rng, y, pathways, probes)  # keeps the draws before the regional baselines
        region_base = _region_base(rng, n_regions)
        n_patients, new_seed = int(new_patients["n"]), int(new_patients["seed"])
        params["new_patients"] = {"n": n_patients, "seed": new_seed}
        rng = np.random.default_rng(new_seed)
        patients = pd.Index([f"N{new_seed}_{i:06d}" for i in range(n_patients)], name="patient")
        y = (rng.random(n_patients) < prevalence).astype(np.int8)
    expr, meth, disease_activity = _omics(rng, y, pathways, probes)
    imaging, region_names, region_effect = _imaging(
        rng, y, n_regions, effect_size, region_base=region_base
    )
    clinical, clin_var = _clinical(rng, y, effect_size, clinical_missing)
    has_imaging, has_meth = _availability(rng, n_patients, missing)

    genes = pathways.genes
    modalities = {
        "expression": _table(patients, expr, None, pd.DataFrame({"gene": genes}, index=genes)),
        "methylation": _table(
            patients,
            meth,
            has_meth,
            pd.DataFrame({"gene": genes[probes.gene]}, index=probes.names),
        ),
        "imaging": _table(
            patients,
            imaging,
            has_imaging,
            pd.DataFrame({"region": region_names}, index=region_names),
        ),
        "clinical": _table(patients, clinical, None, clin_var),
    }
    obs = pd.DataFrame(
        {"label": pd.Categorical.from_codes(y, categories=["CN", "AD"])}, index=patients
    )
    truth = _truth(pathways, probes, region_names, region_effect)
    if survival:  # drawn last: the tables above do not depend on it
        time, event, risk = _survival(
            rng, disease_activity, effect_size, n_disease_pathways, censoring
        )
        obs["time"] = time
        obs["event"] = event
        truth["survival_risk"] = risk.astype(np.float32)
    return Cohort.from_modalities(
        modalities,
        obs,
        kinds={
            "expression": "omics",
            "methylation": "omics",
            "imaging": "imaging",
            "clinical": "clinical",
        },
        uns={"truth": truth, "gene_sets": pathways.gene_sets, "synthetic": params},
    )


def _check_parameters(
    n_genes: int,
    n_pathways: int,
    n_disease_pathways: int,
    *,
    missing: dict[str, float] | None,
    censoring: float,
) -> dict[str, float]:
    """Refuse inconsistent sizes and options; return ``missing`` with its defaults filled in."""
    if n_pathways > n_genes // 3:
        raise ValueError(f"n_pathways={n_pathways} needs n_genes >= {3 * n_pathways}")
    if n_disease_pathways > n_pathways:
        raise ValueError("n_disease_pathways cannot exceed n_pathways")
    missing = {"imaging": 0.2, "methylation": 0.15} | dict(missing or {})
    unknown = set(missing) - {"imaging", "methylation"}
    if unknown:
        raise ValueError(f"missing: unknown modalities {sorted(unknown)}; use imaging, methylation")
    if not 0.0 <= censoring < 1.0:
        raise ValueError(f"censoring={censoring} must be in [0, 1)")
    return missing


@dataclass(frozen=True)
class _Pathways:
    """The latent structure shared by the omics modalities: genes, pathways, disease effects."""

    genes: np.ndarray  # gene symbols
    primary: np.ndarray  # gene -> the pathway whose activity drives it
    disease_idx: np.ndarray  # sorted indices of the disease pathways
    names: np.ndarray  # pathway names (disease pathways carry readable names)
    direction: np.ndarray  # per pathway: +1 / -1 in disease pathways, else 0
    shift: np.ndarray  # per pathway: the activity shift of AD patients
    gene_sets: dict[str, list[str]]  # the pathway collection, with overlapping extra members
    loading: np.ndarray  # per gene: weight of its pathway's activity
    baseline: np.ndarray  # per gene: mean log-expression


def _pathway_structure(
    rng: np.random.Generator,
    n_genes: int,
    n_pathways: int,
    n_disease_pathways: int,
    effect_size: float,
) -> _Pathways:
    """Assign genes to pathways (at least 3 each), pick the disease pathways and their
    directions, and build the overlapping gene-set collection and per-gene loadings."""
    genes = np.array([f"G{i:05d}" for i in range(n_genes)])
    primary = rng.permutation(
        np.concatenate(
            [
                np.repeat(np.arange(n_pathways), 3),
                rng.integers(0, n_pathways, n_genes - 3 * n_pathways),
            ]
        )
    )
    disease_idx = np.sort(rng.choice(n_pathways, n_disease_pathways, replace=False))
    pathway_names = np.array([f"SYN_PATHWAY_{i:04d}" for i in range(n_pathways)], dtype=object)
    for j, p in enumerate(disease_idx):
        base = _DISEASE_PATHWAY_NAMES[j % len(_DISEASE_PATHWAY_NAMES)]
        suffix = (
            f"_{j // len(_DISEASE_PATHWAY_NAMES) + 1}" if j >= len(_DISEASE_PATHWAY_NAMES) else ""
        )
        pathway_names[p] = f"SYN_{base}{suffix}"
    direction = np.zeros(n_pathways, dtype=np.float32)
    direction[disease_idx] = rng.choice([-1.0, 1.0], n_disease_pathways)
    shift = (0.8 * effect_size * direction).astype(np.float32)

    gene_sets: dict[str, list[str]] = {}
    for p in range(n_pathways):
        members = np.flatnonzero(primary == p)
        n_extra = rng.binomial(len(members), 0.2)
        extra = rng.choice(np.flatnonzero(primary != p), n_extra, replace=False)
        gene_sets[str(pathway_names[p])] = sorted(genes[np.concatenate([members, extra])].tolist())

    loading = rng.uniform(0.5, 1.0, n_genes).astype(np.float32)
    baseline = rng.normal(6.0, 2.0, n_genes).astype(np.float32)
    return _Pathways(
        genes, primary, disease_idx, pathway_names, direction, shift, gene_sets, loading, baseline
    )


@dataclass(frozen=True)
class _Probes:
    """Methylation probes: their genes, names and the parameters of their M-values."""

    gene: np.ndarray  # probe -> gene index (sorted)
    names: np.ndarray
    base: np.ndarray  # per probe: baseline M-value
    coef: np.ndarray  # per probe: weight of its gene's pathway activity (negative)
    pathway: np.ndarray  # probe -> the pathway of its gene


def _methylation_probes(
    rng: np.random.Generator, pathways: _Pathways, probes_per_gene: float
) -> _Probes:
    """Map ``round(n_genes * probes_per_gene)`` probes (at least one) to random genes."""
    n_genes = len(pathways.genes)
    n_probes = max(1, round(n_genes * probes_per_gene))
    probe_gene = np.sort(rng.choice(n_genes, n_probes, replace=True))
    probe_names = np.array([f"cg{i:08d}" for i in range(n_probes)])
    probe_base = rng.normal(0.0, 1.5, n_probes).astype(np.float32)
    probe_coef = (-0.6 * pathways.loading[probe_gene]).astype(np.float32)
    return _Probes(probe_gene, probe_names, probe_base, probe_coef, pathways.primary[probe_gene])


def _omics(
    rng: np.random.Generator, y: np.ndarray, pathways: _Pathways, probes: _Probes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expression, methylation (beta values) and each patient's signed disease activity.

    Patients are generated ``_CHUNK`` at a time, in place (bounded memory and few page
    faults at 100k patients): per chunk the pathway activities, then the expression
    noise, then the methylation noise.
    """
    n_patients, n_genes = len(y), len(pathways.genes)
    n_pathways = len(pathways.direction)
    disease_idx, direction = pathways.disease_idx, pathways.direction
    expr = np.empty((n_patients, n_genes), dtype=np.float32)
    meth = np.empty((n_patients, len(probes.gene)), dtype=np.float32)
    signal = np.empty((min(_CHUNK, n_patients), n_genes), dtype=np.float32)
    disease_activity = np.empty(n_patients, dtype=np.float64)  # signed, for survival
    for start in range(0, n_patients, _CHUNK):
        stop = min(start + _CHUNK, n_patients)
        m = stop - start
        act = rng.standard_normal((m, n_pathways), dtype=np.float32)
        act += y[start:stop, None].astype(np.float32) * pathways.shift[None, :]
        disease_activity[start:stop] = act[:, disease_idx] @ direction[disease_idx]
        _expression_block(rng, act, pathways, out=expr[start:stop], signal=signal[:m])
        _methylation_block(rng, act, probes, out=meth[start:stop])
    return expr, meth, disease_activity


def _expression_block(
    rng: np.random.Generator,
    act: np.ndarray,
    pathways: _Pathways,
    *,
    out: np.ndarray,
    signal: np.ndarray,
) -> None:
    """Log-expression of one chunk, in ``out``: baseline + loading * pathway activity + noise.

    ``signal`` is scratch space of ``out``'s shape.
    """
    rng.standard_normal(out=out, dtype=np.float32)
    out += pathways.baseline
    np.take(act, pathways.primary, axis=1, out=signal)
    signal *= pathways.loading
    out += signal


def _methylation_block(
    rng: np.random.Generator, act: np.ndarray, probes: _Probes, *, out: np.ndarray
) -> None:
    """Beta values of one chunk, in ``out``: sigmoid(probe baseline - c * activity + noise),
    the activity being that of the pathway of the probe's gene."""
    rng.standard_normal(out=out, dtype=np.float32)
    out *= -0.8
    out -= probes.base
    out -= probes.coef * act[:, probes.pathway]
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


def _availability(
    rng: np.random.Generator, n_patients: int, missing: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Who has imaging and who has methylation: independent, missing completely at random."""
    has_imaging = rng.random(n_patients) >= missing["imaging"]
    has_meth = rng.random(n_patients) >= missing["methylation"]
    return has_imaging, has_meth


def _region_base(rng: np.random.Generator, n_regions: int) -> np.ndarray:
    """Each region's baseline volume."""
    return rng.uniform(1_000.0, 20_000.0, n_regions).astype(np.float32)


def _imaging(
    rng: np.random.Generator,
    y: np.ndarray,
    n_regions: int,
    effect_size: float,
    *,
    region_base: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Regional volumes sharing a head-size factor; AD shrinks the medial temporal regions
    and enlarges the ventricles. Returns the volumes, region names and planted effects."""
    n_patients = len(y)
    region_names = []
    region_effect = np.zeros(n_regions, dtype=np.float32)
    for r in range(n_regions):
        name = _REGIONS[(r // 2) % len(_REGIONS)]
        rep = r // (2 * len(_REGIONS))
        region_names.append(
            f"{'left' if r % 2 == 0 else 'right'}_{name}" + (f"_{rep}" if rep else "")
        )
        if rep == 0:
            region_effect[r] = -0.08 * _ATROPHY.get(name, 0.0) + 0.15 * _ENLARGE.get(name, 0.0)
    if region_base is None:
        region_base = _region_base(rng, n_regions)
    head = rng.normal(0.0, 0.08, (n_patients, 1)).astype(np.float32)
    rel = 1.0 + head + 0.06 * rng.standard_normal((n_patients, n_regions), dtype=np.float32)
    rel += effect_size * y[:, None].astype(np.float32) * region_effect[None, :]
    imaging = region_base * np.clip(rel, 0.05, None)
    return imaging, region_names, region_effect


def _clinical(
    rng: np.random.Generator, y: np.ndarray, effect_size: float, clinical_missing: float
) -> tuple[np.ndarray, pd.DataFrame]:
    """Age, sex, education, APOE e4 count and a cognitive score, with values (except sex)
    missing at random. Returns the table and its ``var`` (type and coding per variable)."""
    n_patients = len(y)
    e = float(effect_size)
    age = np.clip(rng.normal(72.0, 7.0, n_patients) + 3.0 * e * y, 50, 100)
    sex = (rng.random(n_patients) < 0.5).astype(float)  # no disease effect
    education = np.clip(np.round(rng.normal(16.0, 3.0, n_patients) - 1.0 * e * y), 0, 25)
    allele_freq = 0.14 + 0.16 * np.tanh(e) * y
    apoe4 = rng.binomial(2, allele_freq).astype(float)
    cognition = np.clip(np.round(rng.normal(28.0, 2.0, n_patients) - 1.2 * e * y), 0, 30)
    clinical = np.column_stack([age, sex, education, apoe4, cognition]).astype(np.float32)
    holes = rng.random(clinical.shape) < clinical_missing
    holes[:, 1] = False  # sex is always recorded
    clinical[holes] = np.nan
    clin_var = pd.DataFrame(
        {
            "type": ["numeric", "binary", "numeric", "ordinal", "numeric"],
            "coding": ["years", "1 = female, 0 = male", "years", "count 0-2", "MMSE-like, 0-30"],
        },
        index=["age", "sex", "education_years", "apoe4_count", "cognitive_score"],
    )
    return clinical, clin_var


def _survival(
    rng: np.random.Generator,
    disease_activity: np.ndarray,
    effect_size: float,
    n_disease_pathways: int,
    censoring: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event time (censored), event indicator and true log hazard ratio per patient.

    Proportional hazards over an exponential baseline (median 60 months), with
    independent exponential censoring; see the module notes.
    """
    risk = 0.7 * effect_size * disease_activity / np.sqrt(n_disease_pathways)
    rate = np.log(2.0) / 60.0  # baseline median survival: 60 (months)
    event_time = rng.exponential(1.0 / (rate * np.exp(risk)))
    censor_rate = rate * censoring / (1.0 - censoring)
    censor_time = rng.exponential(1.0 / censor_rate, len(risk)) if censoring else np.inf
    time = np.maximum(np.round(np.minimum(event_time, censor_time), 2), 0.01)
    event = (event_time <= censor_time).astype(np.int8)
    return time, event, risk


def _table(
    patients: pd.Index, x: np.ndarray, keep: np.ndarray | None, var: pd.DataFrame
) -> ad.AnnData:
    """One modality's AnnData: all patients, or those where ``keep`` is true."""
    rows = patients if keep is None else patients[keep]
    data = x if keep is None else x[keep]
    return ad.AnnData(X=data, obs=pd.DataFrame(index=rows), var=var)


def _truth(
    pathways: _Pathways, probes: _Probes, region_names: list[str], region_effect: np.ndarray
) -> dict[str, Any]:
    """The planted ground truth: disease pathways (with directions), genes, probes,
    imaging regions and clinical variables."""
    disease_idx, names = pathways.disease_idx, pathways.names
    return {
        "pathways": [str(names[p]) for p in disease_idx],
        "pathway_direction": {str(names[p]): float(pathways.direction[p]) for p in disease_idx},
        "genes": pathways.genes[np.isin(pathways.primary, disease_idx)].tolist(),
        "probes": probes.names[np.isin(probes.pathway, disease_idx)].tolist(),
        "imaging_regions": [
            n for n, eff in zip(region_names, region_effect, strict=True) if eff != 0
        ],
        "clinical": ["age", "education_years", "apoe4_count", "cognitive_score"],
    }
