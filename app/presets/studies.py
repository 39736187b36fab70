"""Studies: named groups of presets queued together and compared side by side.

The reference experiment (ResNet-18 on CIFAR-10-4000, docs/presets.md) is six runs; a
study queues all of them in one request (all or none) and the Compare page then shows
them in the reference table's layout.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Study:
    """A named list of presets, queued together.

    Attributes:
        name: what requests name it by.
        title: one line for the form.
        presets: the preset names, in the order the Compare table lists them.
        description: what the runs compare, for the form and /api/studies.
    """

    name: str
    title: str
    presets: tuple[str, ...]
    description: str


STUDIES: dict[str, Study] = {
    study.name: study
    for study in (
        Study(
            "cifar10-4000/reference",
            "The reference table: ResNet-18 on CIFAR-10-4000",
            (
                "cifar10-4000/model-a-lr1e-1",
                "cifar10-4000/model-b-lr1e-1",
                "cifar10-4000/model-a-lr1e-4",
                "cifar10-4000/model-b-lr1e-4",
                "cifar10-4000/model-c",
                "cifar10-4000/model-d",
            ),
            "Six runs of 100 epochs: from scratch and from ImageNet weights with every stage at 1e-1 and "
            "at 1e-4, features 1e-4 + classifier 1e-1, and conv1–3 1e-4 / conv4–5 1e-3 / classifier 1e-1 "
            "(reference test accuracy 76.34, 66.10, 41.89, 87.14, 88.72, 89.65 %).",
        ),
        Study(
            "cifar10-4000/beat-the-table",
            "The reference table's best row against its cosine-schedule variant",
            ("cifar10-4000/model-d", "cifar10-4000/model-d-cosine"),
            "Model D as in the table (constant LRs) and with a cosine schedule and 2 warm-up epochs.",
        ),
    )
}
