"""The wizard's second step: what is about to be trained, its cost and the provider's price.

Nothing leaves the computer here except when the user asks a provider that quotes its own
price (the examples are uploaded for that, which is free, and Start reuses them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.api import jobs_service as svc
from desktop.api.backends import BackendFactory, traits_of
from desktop.api.errors import ErrorKind, FriendlyError, ProviderError, UploadCancelled
from desktop.core.archive import ArchiveError, JobArchive
from desktop.core.catalog import Availability
from desktop.core.estimate import Estimate
from desktop.core.settings import AppSettings
from desktop.core.training import ParameterRole, PriceEstimate
from desktop.ui.common import palette
from desktop.ui.common.ops import Op, run_op
from desktop.ui.common.workers import JobContext
from desktop.ui.jobs.wizard_choose import ChoosePage
from desktop.ui.jobs.wizard_common import (
    APPROXIMATE,
    APPROXIMATE_HERE,
    METHOD_LABELS,
    NEXT_STEPS_HERE,
    REASSURANCE,
    REASSURANCE_HERE,
    Note,
    blocking_text,
    disk_failure,
    lower_first,
    next_steps_for,
    quoting_traits,
    time_here,
)

log = logging.getLogger(__name__)


class ReviewPage(QWidget):
    """The cost tiles, what is trained and what happens next; ``back`` asks for the first
    step, and ``start_button`` starts the job."""

    back = Signal()

    def __init__(
        self,
        choose: ChoosePage,
        settings: AppSettings,
        archive: JobArchive,
        backend_factory: BackendFactory,
        transfer: svc.TransferOptions,
        *,
        sending: Callable[[], bool],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        #: The first step, whose setup is reviewed, and its three parts.
        self.choose = choose
        self.chooser = choose.chooser
        self.examples_box = choose.examples_box
        self.settings_form = choose.settings_form
        #: True while the job is being sent (no price is asked meanwhile).
        self._sending = sending
        self.settings = settings
        self.archive = archive
        self.backend_factory = backend_factory
        self.transfer = transfer
        #: The provider's own price (``price_estimate`` backends), for the settings in
        #: ``_priced_for``; a problem getting it, and the op asking.
        self.price: PriceEstimate | None = None
        self._priced_for: tuple[object, ...] | None = None
        self._price_problem: FriendlyError | None = None
        self._price_op: Op[object] | None = None
        self._price_stop = threading.Event()
        self.review_headline = QLabel()
        self.review_headline.setObjectName("reviewHeadline")
        self.review_headline.setWordWrap(True)
        self.review_headline.setStyleSheet("font-size: 13pt;")
        self.tiles: dict[str, tuple[QLabel, QLabel]] = {}
        self.tile_frames: dict[str, QFrame] = {}
        self.tile_captions: dict[str, QLabel] = {}
        tiles = QHBoxLayout()
        for key, caption in (
            ("cost", "Estimated cost"),
            ("price", "Provider's price"),
            ("tokens", "Billable tokens"),
            ("examples", "Training examples"),
            ("epochs", "Epochs"),
        ):
            frame = QFrame()
            frame.setObjectName("tile")
            frame.setStyleSheet(
                "QFrame#tile { background: white; "
                f"border: 1px solid {palette.BORDER}; border-radius: 8px; }}"
            )
            title = QLabel(caption)
            value = QLabel("—")
            value.setStyleSheet("font-size: 20pt; font-weight: 600;")
            value.setWordWrap(True)
            detail = QLabel()
            detail.setWordWrap(True)
            detail.setStyleSheet(f"color: {palette.MUTED};")
            box = QVBoxLayout(frame)
            box.addWidget(title)
            box.addWidget(value)
            box.addWidget(detail)
            if key == "price":
                self.price_button = QPushButton("Ask for the price")
                self.price_button.setObjectName("askPrice")
                self.price_button.clicked.connect(self.ask_price)
                box.addWidget(self.price_button)
            box.addStretch(1)
            tiles.addWidget(frame, 1)
            self.tiles[key] = (value, detail)
            self.tile_frames[key] = frame
            self.tile_captions[key] = title
        self.review_text = QLabel()
        self.review_text.setObjectName("reviewText")
        self.review_text.setWordWrap(True)
        self.review_text.setTextFormat(Qt.TextFormat.RichText)
        self.review_text.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.review_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.review_blocking = Note(color=palette.ERROR_TEXT)
        self.review_blocking.setObjectName("reviewBlocking")
        next_title = QLabel("What happens next")
        next_title.setStyleSheet("font-weight: 600;")
        self.next_steps = Note(color=palette.TEXT)
        self.reassurance = Note(REASSURANCE)
        self.back_button = QPushButton("← Change settings")
        self.back_button.clicked.connect(self.back)
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("startTraining")
        self.start_button.setToolTip(
            "Upload the examples and start the job. The provider bills your account."
        )
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.start_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(self.review_headline)
        layout.addLayout(tiles)
        layout.addWidget(self.review_text)
        layout.addWidget(next_title)
        layout.addWidget(self.next_steps)
        layout.addStretch(1)
        layout.addWidget(self.review_blocking)
        layout.addWidget(self.reassurance)
        layout.addLayout(buttons)

    def _shown(self) -> bool:
        stack = self.parentWidget()
        return isinstance(stack, QStackedWidget) and stack.currentWidget() is self

    def stop_waiting(self) -> None:
        """End the wait of a price question at once (the app is quitting)."""
        self._price_stop.set()

    def fill(self) -> None:
        """Show the setup as it is now: what is trained, the estimate and the price."""
        chooser, examples, form = self.chooser, self.examples_box, self.settings_form
        data, profile, estimate = self.choose.data, chooser.profile, self.choose.estimate
        assert data is not None and profile is not None
        training = len(examples.training_indices())
        model_name = chooser.model_combo.currentText().split(" · ")[0]
        here = chooser.here
        where = "on <b>this computer</b>" if here else f"at <b>{profile.display_name}</b>"
        self.review_headline.setText(
            f"Train <b>{model_name}</b> {where} with <b>{data.name}</b>"
            if here
            else f"Train <b>{model_name}</b> {where} on <b>{data.name}</b>"
        )
        items = [f"{METHOD_LABELS[chooser.method]}."]
        listed = chooser.trainable
        if here and listed is not None and listed.note:
            items.append(listed.note)
        if examples.split_validation.isChecked():
            held = len(data.examples) - training
            validation = (
                f"{held:,} example{'s' if held != 1 else ''} set aside for validation "
                f"({examples.split_percent.value():g} %, seed {examples.split_seed.value()}); "
                f"{'they are' if held != 1 else 'it is'} not billed"
            )
        elif examples.file_validation.isChecked() and examples.validation_file is not None:
            validation = f"validation examples from {examples.validation_file.name} (not billed)"
        else:
            validation = "no validation set"
        items.append(validation[0].upper() + validation[1:] + ".")
        others = [
            f for f in form.parameter_form.fields() if f.spec.role is not ParameterRole.EPOCHS
        ]
        fixed = [f"{lower_first(f.spec.label)} {f.text()}" for f in others if f.value() is not None]
        if fixed:
            rest = "; the rest automatic" if len(fixed) < len(others) else ""
            items.append("Settings: " + ", ".join(fixed) + rest + ".")
        elif others:
            chooses = "the defaults for this computer" if here else "the provider chooses"
            items.append(f"Settings: all automatic ({chooses}).")
        suffix = form.suffix.text().strip()
        if suffix:
            items.append(f"The model's name will contain “{suffix}”.")
        if form.fixed_seed.isChecked():
            items.append(f"Seed {form.seed.value()}, so the run can be repeated.")
        integration = form.wandb()
        if integration is not None:
            items.append(f"Curves also go to the Weights & Biases project “{integration.project}”.")
        self._fill_tiles(training, estimate)
        if estimate is not None and estimate.over_limit:
            over = estimate.over_limit
            items.append(
                f"{over:,} example{'s are' if over != 1 else ' is'} longer than the model's "
                "limit and will be cut off (only the limit is billed)."
            )
        self.review_text.setText("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
        self.next_steps.setText(
            NEXT_STEPS_HERE if self.chooser.here else next_steps_for(traits_of(profile))
        )
        price = self._fill_price()
        blocked = self.blocked()
        self.review_blocking.setText(blocked or "")
        self.start_button.setEnabled(blocked is None and estimate is not None)
        traits = traits_of(profile)
        if price is not None and price.total_usd is not None and traits is not None:
            money = self.settings.format_money(price.total_usd)
            self.start_button.setText(f"Start training ({money}, {traits.name}'s price)")
        elif estimate is not None and estimate.estimated_cost_usd is not None:
            money = self.settings.format_money(estimate.estimated_cost_usd)
            self.start_button.setText(f"Start training (about {money})")
        else:
            self.start_button.setText("Start training")
        self.start_button.setToolTip(
            "Start training on this computer; nothing is sent anywhere or billed."
            if self.chooser.here
            else "Upload the examples and start the job. The provider bills your account."
        )

    def _fill_tiles(self, training: int, estimate: Estimate | None) -> None:
        def put(key: str, value: str, detail: str) -> None:
            self.tiles[key][0].setText(value)
            self.tiles[key][1].setText(detail)

        here = self.chooser.here
        self.tile_captions["cost"].setText("Cost" if here else "Estimated cost")
        self.tile_captions["tokens"].setText("Tokens to train" if here else "Billable tokens")
        put("examples", f"{training:,}", "trained on" if here else "sent for training")
        if estimate is None:
            for key in ("cost", "tokens", "epochs"):
                put(key, "…", "counting tokens")
            return
        approximate = "" if self.chooser.exact_tokens else APPROXIMATE_HERE if here else APPROXIMATE
        if here:
            taking = time_here(self.chooser.profile, self.chooser.model_id, estimate)
            put(
                "cost",
                "free",
                f"nothing is billed; it takes {taking}"
                if taking
                else "nothing is billed: it takes this computer's time",
            )
        elif estimate.estimated_cost_usd is not None:
            if self.chooser.model_info is None:
                source = "the provider's price list"
            elif estimate.price_is_override:
                source = "your price"
            else:
                source = "the app's price list"
            as_of = f" of {estimate.price_as_of.isoformat()}" if estimate.price_as_of else ""
            put(
                "cost",
                f"about {self.settings.format_money(estimate.estimated_cost_usd)}",
                f"${estimate.price_per_1m:g} per million tokens, from {source}{as_of}"
                + approximate,
            )
        elif (quoting := quoting_traits(self.chooser.profile)) is not None:
            put(
                "cost",
                "unknown",
                f"the app has no price list for this model; {quoting.name}'s own price is "
                "next to this",
            )
        else:
            put("cost", "unknown", estimate.cost_note or "no price is known for this model")
        put(
            "tokens",
            f"{'about ' if approximate else ''}{estimate.billable_tokens_total:,}",
            f"{estimate.billable_tokens_per_epoch:,} per epoch × {estimate.epochs}" + approximate,
        )
        how = (
            (
                "automatic: the default for this computer"
                if here
                else "automatic: estimated with the provider's usual rule"
            )
            if estimate.epochs_auto
            else "as you chose"
        )
        put("epochs", f"{estimate.epochs}", how)

    def blocked(self) -> str | None:
        if self.choose.data is not None and self.choose.data.still_checking:
            return "Wait until the dataset has been checked, then press Train again."
        if self.choose.blocking:
            return blocking_text(self.choose.blocking)
        validation = self.examples_box.validation_problem()
        if validation is not None:
            return validation
        info = self.chooser.model_info
        status = info.status_on(self.chooser.today()) if info is not None else None
        if status is not None and status.availability is Availability.SHUT_DOWN:
            return status.sentence
        price = self.current_price()
        if price is not None and not price.allowed:
            return self._refusal_text(price)
        return None

    def _price_key(self) -> tuple[object, ...]:
        """What the provider's price depends on: a price asked for other settings is stale."""
        return (
            self.chooser.profile.id if self.chooser.profile is not None else None,
            self.chooser.model_id,
            self.chooser.method,
            tuple(sorted(self.settings_form.hyperparameters().items())),
            tuple(self.examples_box.training_indices()),
            self.examples_box.file_validation.isChecked() and self.examples_box.validation_file,
            self.examples_box.split_validation.isChecked(),
        )

    def current_price(self) -> PriceEstimate | None:
        """The provider's price for the job as it is set up now (None: not asked yet)."""
        if self.price is None or self._priced_for != self._price_key():
            return None
        return self.price

    def _fill_price(self) -> PriceEstimate | None:
        """Show the provider's price tile (for a provider that quotes one) and return the
        price when it is current."""
        traits = quoting_traits(self.chooser.profile)
        self.tile_frames["price"].setVisible(traits is not None)
        if traits is None:
            self.reassurance.setText(REASSURANCE_HERE if self.chooser.here else REASSURANCE)
            return None
        name = traits.name
        value, detail = self.tiles["price"]
        self.tile_captions["price"].setText(f"{name}'s price")
        self.reassurance.setText(
            f"Nothing has been sent yet. Asking {name} for its price uploads the examples "
            "(uploading is free) but trains nothing. Start training creates the job, which "
            f"{name} bills to your account; {name}'s price is the one to trust, and its "
            "invoice is final."
        )
        price = self.current_price()
        button = self.price_button
        button.setText(f"Ask {name}")
        button.setToolTip(
            f"Upload the examples to {name} (free) and ask what this job will cost. Nothing "
            "is trained or billed."
        )
        button.setEnabled(self._price_op is None and not self._sending())
        value.setStyleSheet("font-size: 20pt; font-weight: 600;")
        if self._price_op is not None:
            value.setText("…")
            detail.setText(f"Asking {name}…")
        elif self._price_problem is not None and self._priced_for == self._price_key():
            value.setText("unknown")
            detail.setText(f"{self._price_problem.message} {self._price_problem.next_step}")
            button.setText("Ask again")
        elif price is None:
            value.setText("—")
            detail.setText(
                f"{name} quotes the job before it starts; ask it to see the figure to trust."
            )
        else:
            total = price.total_usd
            value.setText(self.settings.format_money(total) if total is not None else "no figure")
            notes = [f"{name}'s own price for this job: the figure to trust."]
            if not price.allowed:
                value.setStyleSheet(
                    f"font-size: 20pt; font-weight: 600; color: {palette.ERROR_TEXT};"
                )
                notes = [self._refusal_text(price)]
            elif price.limit_usd is not None:
                notes.append(
                    f"Within your account's limit of {self.settings.format_money(price.limit_usd)}."
                )
            if price.note:
                notes.append(price.note)
            detail.setText(" ".join(notes))
            button.setText("Ask again")
        return price

    def _refusal_text(self, price: PriceEstimate) -> str:
        traits = quoting_traits(self.chooser.profile)
        name = traits.name if traits is not None else "The provider"
        limit = (
            f" (your limit is {self.settings.format_money(price.limit_usd)})"
            if price.limit_usd is not None
            else ""
        )
        return (
            f"{name} would not start this job: it costs more than your account may spend"
            f"{limit}. Raise the limit in {name}'s billing settings, or train on fewer "
            "examples or epochs."
        )

    def ask_price(self) -> None:
        """Upload the examples (free; reused by Start) and ask the provider for its price."""
        if self._price_op is not None or self._sending() or self.choose.setup_problem():
            return
        plan = self.choose.build_plan()
        key = self._price_key()
        archive, factory, transfer, stop = (
            self.archive,
            self.backend_factory,
            self.transfer,
            self._price_stop,
        )
        stop.clear()

        def job(_context: JobContext) -> object:
            try:
                with factory(plan.profile) as backend:
                    uploads = svc.upload_plan(
                        backend,
                        archive,
                        plan,
                        should_cancel=stop.is_set,
                        options=transfer,
                        sleep=stop.wait,
                    )
                    return key, backend.estimate_price(svc.training_request(plan, uploads))
            except UploadCancelled:
                return key, UploadCancelled()
            except ProviderError as exc:
                return key, exc.friendly
            except (ArchiveError, OSError) as exc:
                return key, disk_failure(exc)

        self._price_problem = None
        op = run_op(
            self,
            job,
            name="asking for the price",
            success=self._on_price,
            failure=lambda message: log.info("Wizard work failed: %s", message),
            done=lambda: self._on_price_finished(op),
        )
        self._price_op = op
        self.fill()

    def _on_price(self, value: object) -> None:
        key, outcome = value  # type: ignore[misc]
        self._priced_for = key
        self.price = outcome if isinstance(outcome, PriceEstimate) else None
        self._price_problem = outcome if isinstance(outcome, FriendlyError) else None
        if outcome is None:
            self._price_problem = FriendlyError(
                kind=ErrorKind.UNKNOWN,
                message="The provider gave no price for this job.",
                next_step="Rely on the app's estimate; the invoice is final.",
                retryable=False,
            )
        self._on_price_finished()  # the answer is in: show it without waiting for the op's end

    def _on_price_finished(self, op: Op[object] | None = None) -> None:
        """The price op answered or ended (``op``: only forget that one, not a newer one)."""
        if op is None or self._price_op is op:
            self._price_op = None
        if self._shown():
            self.fill()
