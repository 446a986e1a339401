"""The options of a DragGAN drag: one home for their names, defaults,
validation, auto values and session-record form.

Every front end uses :class:`DragOptions`: the model builds its defaults from
its config (:meth:`DragGAN.__init__`), a :class:`DragSession` holds one, the
CLI makes its flags from :data:`OPTION_SPECS`, batch tasks and the demo pass
raw values through :meth:`DragOptions.replace`, and session records store
:meth:`DragOptions.to_record` / read back :meth:`DragOptions.from_record`.

Three options have *auto* values that depend on the image side ``H``
(``None`` in the options, resolved by :meth:`DragOptions.r1_px` etc.):

* ``r1`` (motion-supervision radius): ``round(3 * H / 512)``, at least 1;
* ``r2`` (tracking window radius): ``round(12 * H / 512)``, at least 1;
* ``stop_distance``: ``max(2 * H / 512, 2)`` px.
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from mmagic_draggan.errors import InvalidInputError

__all__ = [
    'DragOptions', 'OptionSpec', 'OPTION_SPECS', 'OPTION_NAMES',
    'PRECISIONS', 'RESTART_OPTIONS', 'check_option', 'default_r1',
    'default_r2', 'default_stop_distance'
]


def default_r1(image_size: int) -> int:
    """Motion-supervision radius: ``round(3 * H / 512)``, at least 1."""
    return max(1, round(3 * image_size / 512))


def default_r2(image_size: int) -> int:
    """Tracking window radius: ``round(12 * H / 512)``, at least 1."""
    return max(1, round(12 * image_size / 512))


def default_stop_distance(image_size: int) -> float:
    """Stop distance: ``max(2 * H / 512, 2)`` pixels."""
    return max(2 * image_size / 512, 2.)


#: Synthesis precisions, see
#: :func:`~mmagic_draggan.models.modulated_conv.resolve_precision`.
PRECISIONS: Tuple[str, ...] = ('fp32', 'bf16', 'tf32')


@dataclass(frozen=True)
class OptionSpec:
    """How one option is typed, bounded and explained.

    Attributes:
        name (str): Option name (also the config key and record key).
        kind (str): ``'int'``, ``'float'`` or ``'str'``.
        help (str): One line for ``--help`` and messages.
        choices (tuple, optional): Allowed values of a ``'str'`` option.
        minimum (float, optional): Smallest allowed value.
        maximum (float, optional): Largest allowed value: beyond it a drag
            overflows, never ends or needs more memory than any machine has.
        positive (bool): The value must be > 0.
        auto (bool): ``None`` is allowed and means "from the image size".
    """
    name: str
    kind: str
    help: str
    choices: Optional[Tuple[str, ...]] = None
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    positive: bool = False
    auto: bool = False


#: Every drag option, in record and ``--help`` order.
OPTION_SPECS: Tuple[OptionSpec, ...] = (
    OptionSpec('latent_space', 'str',
               "optimise W+ rows ('w+') or one shared W ('w')",
               choices=('w+', 'w')),
    OptionSpec('num_opt_latents', 'int',
               'number of optimised latent rows (default 6)', minimum=1,
               maximum=64),
    OptionSpec('lr', 'float', 'Adam learning rate', positive=True,
               maximum=10),
    OptionSpec('stop_distance', 'float',
               'converged when every handle is this close, px (auto: '
               'max(2H/512, 2))', minimum=0, maximum=10000, auto=True),
    OptionSpec('max_steps', 'int', 'step limit of one run', minimum=0,
               maximum=100000),
    OptionSpec('mode', 'str',
               "'fast' (the feature block only around the handles, all of it "
               "with a mask) or 'exact'",
               choices=('fast', 'exact')),
    OptionSpec('r1', 'float',
               'motion-supervision radius, px (auto: round(3H/512))',
               positive=True, maximum=128, auto=True),
    OptionSpec('r2', 'int', 'tracking search radius, px (auto: '
               'round(12H/512))', minimum=1, maximum=256, auto=True),
    OptionSpec('lambda_mask', 'float', 'weight of the fixed-region term',
               minimum=0, maximum=1e6),
    OptionSpec('metric', 'str',
               "tracking feature distance: 'l2' (official) or 'l1' (paper)",
               choices=('l2', 'l1')),
    OptionSpec('precision', 'str',
               "synthesis precision in 'fast' mode: 'fp32', 'bf16' (CPUs "
               "with native bf16, CUDA) or 'tf32' (CUDA); 'exact' mode is "
               "always fp32", choices=PRECISIONS),
)
#: Option names, in order.
OPTION_NAMES: Tuple[str, ...] = tuple(s.name for s in OPTION_SPECS)
_SPECS: Dict[str, OptionSpec] = {s.name: s for s in OPTION_SPECS}
#: Options whose change starts a new optimisation (fresh Adam).
RESTART_OPTIONS = ('latent_space', 'num_opt_latents', 'lr')


def check_option(name: str, value: Any) -> Any:
    """Validate and normalise one option value.

    Accepts what JSON, argparse, config files and UI widgets give: numbers
    (not strings) for numeric options, floats with an integer value for
    integer options, and ``None`` / ``'auto'`` for the auto options.

    Args:
        name (str): An option of :data:`OPTION_NAMES`.
        value (Any): The raw value.

    Returns:
        Any: The value as ``int``, ``float``, ``str`` or ``None`` (auto).

    Raises:
        ValueError: An unknown option or a bad value, naming the option and
            what is allowed.
    """
    spec = _SPECS.get(name)
    if spec is None:
        raise InvalidInputError(f'unknown DragGAN option {name!r}; known: '
                                f'{list(OPTION_NAMES)}')
    if value is None or (isinstance(value, str) and spec.auto
                         and value.strip().lower() in ('', 'auto', 'none')):
        if spec.auto:
            return None
        raise InvalidInputError(f'{name} needs a value; got None')
    if spec.kind == 'str':
        v = str(value).strip().lower() if isinstance(value, str) else value
        if v not in spec.choices:
            raise InvalidInputError(
                f'{name} must be one of {list(spec.choices)}; '
                f'got {value!r}')
        return v
    if isinstance(value, (bool, str, bytes)):
        raise InvalidInputError(f'{name} must be a number; got {value!r}')
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f'{name} must be a number; got {value!r}') from None
    if not math.isfinite(v):
        raise InvalidInputError(
            f'{name} must be a finite number; got {value!r}')
    if spec.kind == 'int':
        if not v.is_integer():
            raise InvalidInputError(
                f'{name} must be a whole number; got {value!r}')
        v = int(v)
    if spec.positive and not v > 0:
        raise InvalidInputError(f'{name} must be > 0; got {value!r}')
    if spec.minimum is not None and v < spec.minimum:
        raise InvalidInputError(
            f'{name} must be >= {spec.minimum:g}; got {value!r}')
    if spec.maximum is not None and v > spec.maximum:
        raise InvalidInputError(
            f'{name} must be <= {spec.maximum:g}; got {value!r}')
    return v


@dataclass(frozen=True)
class DragOptions:
    """The hyper-parameters of a drag (defaults: docs/algorithm.md).

    Immutable: :meth:`replace` returns a validated copy.

    Attributes:
        latent_space (str): ``'w+'`` optimises the first ``num_opt_latents``
            rows of W+; ``'w'`` one 512-vector offset shared by those rows.
        num_opt_latents (int): Optimised latent rows. Defaults to 6.
        lr (float): Adam learning rate. Defaults to 1e-3.
        stop_distance (float | None): Converged when every handle is within
            this many px of its target; None = ``max(2H/512, 2)``.
        max_steps (int): Step limit of one run. Defaults to 300.
        mode (str): ``'fast'`` or ``'exact'``. Defaults to ``'fast'``.
        r1 (float | None): Motion-supervision radius, px; None = auto.
        r2 (int | None): Tracking window radius, px; None = auto.
        lambda_mask (float): Weight of the fixed-region term. Defaults to 20.
        metric (str): Tracking distance, ``'l2'`` or ``'l1'``.
        precision (str): Synthesis precision of ``'fast'`` mode:
            ``'fp32'`` (default), ``'bf16'`` or ``'tf32'``; one the device
            cannot run falls back to ``'fp32'`` (see
            :func:`~mmagic_draggan.models.modulated_conv.resolve_precision`).
            ``'exact'`` mode ignores it. bf16 is not the default: on a fixed
            20-step drag at 256 its handles left the fp32 ones by 1 px per
            axis (README "Speed").
    """
    latent_space: str = 'w+'
    num_opt_latents: int = 6
    lr: float = 1e-3
    stop_distance: Optional[float] = None
    max_steps: int = 300
    mode: str = 'fast'
    r1: Optional[float] = None
    r2: Optional[int] = None
    lambda_mask: float = 20.
    metric: str = 'l2'
    precision: str = 'fp32'

    def __post_init__(self) -> None:
        for name in OPTION_NAMES:
            object.__setattr__(self, name,
                               check_option(name, getattr(self, name)))

    # ------------------------------------------------------------------
    @classmethod
    def create(cls, values: Optional[Mapping[str, Any]] = None,
               **kwargs) -> 'DragOptions':
        """Options from a mapping and/or keywords; unknown keys raise."""
        return cls().replace(**{**dict(values or {}), **kwargs})

    def replace(self, **changes) -> 'DragOptions':
        """A validated copy with ``changes``.

        Raises:
            ValueError: An unknown key (listing the known ones) or a bad
                value (naming the option).
        """
        unknown = sorted(set(changes) - set(OPTION_NAMES))
        if unknown:
            raise InvalidInputError(
                f'unknown DragGAN option(s) {unknown}; known: '
                f'{list(OPTION_NAMES)}')
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> Dict[str, Any]:
        """``{name: value}`` with auto values as None."""
        return {n: getattr(self, n) for n in OPTION_NAMES}

    def restarts(self, other: 'DragOptions') -> bool:
        """Whether going from ``self`` to ``other`` needs a fresh Adam."""
        return any(getattr(self, k) != getattr(other, k)
                   for k in RESTART_OPTIONS)

    def check_latents(self, num_latents: int) -> None:
        """Check ``num_opt_latents`` against a generator's W+ rows.

        Raises:
            ValueError: More optimised rows than the latent has.
        """
        if self.num_opt_latents > num_latents:
            raise InvalidInputError(
                f'num_opt_latents must be in [1, {num_latents}]'
                f' for this generator; got '
                f'{self.num_opt_latents}')

    # ------------------------------------------------------------------
    # values in pixels for an image of side H
    def r1_px(self, image_size: int) -> float:
        """Motion-supervision radius for side ``image_size``, px."""
        return default_r1(image_size) if self.r1 is None else self.r1

    def r2_px(self, image_size: int) -> int:
        """Tracking window radius for side ``image_size``, px."""
        return default_r2(image_size) if self.r2 is None else self.r2

    def stop_distance_px(self, image_size: int) -> float:
        """Stop distance for side ``image_size``, px."""
        return default_stop_distance(image_size) \
            if self.stop_distance is None else float(self.stop_distance)

    def resolved(self, image_size: int) -> 'DragOptions':
        """A copy with every auto value replaced by its pixel value."""
        return self.replace(r1=self.r1_px(image_size),
                            r2=self.r2_px(image_size),
                            stop_distance=self.stop_distance_px(image_size))

    # ------------------------------------------------------------------
    # session records
    def to_record(self, image_size: int) -> Dict[str, Any]:
        """The options as stored in a session record: auto values resolved
        (so a record tells what was used)."""
        return self.resolved(image_size).as_dict()

    @classmethod
    def record_overrides(cls, hyper_parameters: Mapping[str, Any],
                         where: str = 'the session') -> Dict[str, Any]:
        """The option values of a record's ``hyper_parameters`` (other keys
        such as ``truncation`` or ``image_size`` are skipped), validated.

        Raises:
            ValueError: ``hyper_parameters`` is not an object, or a value is
                bad (naming ``where``).
        """
        if not isinstance(hyper_parameters, Mapping):
            raise InvalidInputError(
                f'"hyper_parameters" in {where} must be an '
                'object')
        out = {}
        for name in OPTION_NAMES:
            if hyper_parameters.get(name) is None:
                continue
            try:
                out[name] = check_option(name, hyper_parameters[name])
            except ValueError as err:
                raise InvalidInputError(f'{where}: {err}') from None
        return out
