"""The feature cache: a phase whose model's first module is frozen computes that module's outputs
once per image, keeps them on disk (OUT/feature_cache) and trains the rest from them. A phase's
`cache_features` switches it on. Its code: templates/_partials/features/feature_cache.py.jinja
(train.py's part, and the generated features.py)."""

from __future__ import annotations

from ..spec import Bool, Enum, OneOf, spec_field
from . import Feature

KEY = "cache_features"


class FeatureCache(Feature):
    name = "feature_cache"
    order = 900
    phase_fields = {
        KEY: spec_field(
            OneOf(Bool(), Enum("eval"), what="true, false or eval"),
            False,
            "compute the frozen first module's outputs (e.g. a VGG's features) once per image, "
            "keep them on disk and train the rest from them; `eval`: from the evaluation "
            "transforms' images, when the training transforms are random (the phase then trains "
            "without them)",
            annotation=bool | str,
        )
    }
    readme_part = "data"

    def choices(self, train) -> dict:
        return {f"train.phases[].{KEY}": ("eval",)}

    def kinds(self, train) -> dict:
        return {f"train.phases[].{KEY}": ("bool", "str")}

    def on(self, train) -> bool:
        return any(getattr(phase, KEY) for phase in train.phases or [])

    def cached(self, train):
        """Each cached phase, its place and its blueprint path."""
        for i, phase in enumerate(train.phases or []):
            if getattr(phase, KEY):
                yield i, phase, f"train.phases[{i}].{KEY}"

    def check(self, bp, problems) -> None:
        """What a cache of the first module's outputs needs from the data and the recipe."""
        from . import features_of

        for _, phase, path in self.cached(bp.train):
            where = phase.key_locations.get(KEY, phase.location)
            if bp.in_memory:
                problems.add(
                    where,
                    path,
                    f"{bp.data.dataset} data are small images held in memory; the feature cache "
                    "is for image files (image_folder, cub, vqa)",
                    f"remove {KEY}",
                )
            random = [step.KIND for step in bp.data.transforms.train if step.RANDOM]
            if random and getattr(phase, KEY) is True:
                problems.add(
                    where,
                    path,
                    f"the training transforms are random ({', '.join(random)}): the first "
                    "module's outputs differ every epoch, so they cannot be computed once",
                    f"`{KEY}: eval` trains this phase on the evaluation transforms' images "
                    "(without augmentation), or make data.transforms.train deterministic",
                )
            for key in (key for unit in features_of(bp) for key in unit.blends_images(bp.train)):
                problems.add(
                    where,
                    path,
                    f"{key} blends the images of a batch, but a cached phase feeds the model "
                    "stored features instead of images",
                    f"remove train.{key} or {KEY}",
                )

    def check_plan(self, bp, rows, problems) -> None:
        """What it needs from the model: its first module, one module with parameters, frozen in
        the cached phase, giving the same output for the same image."""
        from ..plan import trains_part

        if not rows:
            return
        first = rows[0]
        name = first.module
        for _, phase, path in self.cached(bp.train):
            where = phase.key_locations.get(KEY, phase.location)
            if not name or "." in name or not first.params:
                problems.add(
                    where,
                    path,
                    f"the feature cache keeps the outputs of the model's first module, but its "
                    f"first layer ({first.kind}) is not one module with parameters",
                    "start the image layers with one module, e.g. `vgg: {cfg: VGG16}`",
                )
                continue
            if trains_part(name, phase):
                problems.add(
                    where,
                    path,
                    f"'{name}' trains in this phase, so its outputs change with every step and "
                    "cannot be cached",
                    f"freeze it: `frozen: [{name}]`, or a `trainable` list without it",
                )
            inside = [row for row in rows if row.module.startswith(name + ".")]
            if any("dropout" in row.kind for row in inside):
                problems.add(
                    where,
                    path,
                    f"'{name}' has dropout, which draws new masks every step: its outputs differ "
                    "from one epoch to the next",
                    f"remove {KEY}, or the dropout",
                )

    def phase_config(self, phase) -> dict:
        # false, true, or "eval" (from the evaluation transforms' images)
        return {KEY: getattr(phase, KEY)}

    def setting_check(self, path: str, value):
        if path.rpartition(".")[2] == KEY:
            return "informational", (
                "how the frozen module's outputs are had: computed every step, or once and"
                " read from OUT/feature_cache (tests/test_train.py trains with it)"
            )
        return None

    def values(self, project) -> dict:
        """What its partial prints: the cached module, and whether a phase caches the
        evaluation transforms' images."""
        modes = {phase.get(KEY) for phase in project.run.phases} - {None, False}
        return {"module": project.plan.first_module.module, "by_eval": "eval" in modes}

    def readme(self, project) -> str:
        cached = [phase["name"] for phase in project.run.phases if phase.get(KEY)]
        eval_only = [phase["name"] for phase in project.run.phases if phase.get(KEY) == "eval"]
        module = project.plan.first_module.module
        return (
            f"**Feature cache**: In phase {', '.join(cached)}, the frozen `{module}`"
            " runs once per image: its outputs are kept on disk (`OUT/feature_cache`, or"
            " `--feature-cache DIR`) and the rest of the model trains from them. A row is"
            " computed again when its image file changes (path, size or modification time),"
            " and the whole cache when the transform, the module's weights, the precision or"
            f" torch's version does. `{KEY}: false` in the config computes them every"
            " step instead."
            + (
                f" Phase {', '.join(eval_only)} caches the evaluation transforms' images"
                f" (`{KEY}: eval`), so it trains without the random training transforms."
                if eval_only
                else ""
            )
        )


UNIT = FeatureCache()
