"""Visual question answering: the model reads an image and a question's words and scores the
answers; the data sets carry the questions' and answers' vocabularies, saved with the run and in
every checkpoint. No field of its own: the blueprint's two inputs decide. Its code:
templates/_partials/features/vqa.py.jinja (and data.py's, templates/_partials/sources/vqa.py.jinja;
train.py's evaluate of answers is the skeleton's, beside the classes')."""

from __future__ import annotations

from . import Feature


class QuestionAnswering(Feature):
    name = "vqa"
    order = 500  # its vocabularies saved before the training features' output files

    def on_blueprint(self, bp) -> bool:
        return bp.is_vqa


UNIT = QuestionAnswering()
