"""The start image of an edit: a seed, a W+ latent or a photo's inversion,
and the one rule that says which combinations make sense.

Every front end (the drag API and CLI, the inferencer, batch tasks,
``DragGAN.new_session``) turns what it was given into a
:class:`StartImage` through :meth:`StartImage.create`, once, at its
entrance; the layers below take the value as it is.
"""
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from mmagic_draggan.errors import InvalidInputError
from .numbers import check_int, check_number

__all__ = ['MAX_SEED', 'DEFAULT_SEED', 'API_NAMES', 'StartImage',
           'check_seed', 'check_truncation']

#: Seeds are integers in [0, MAX_SEED).
MAX_SEED = 2**63
#: The seed of an edit that names no start.
DEFAULT_SEED = 0
#: How :meth:`StartImage.create` names the parts in its messages (keywords
#: of the Python API, whose CLI flags are the same names with ``--``).
API_NAMES = dict(seed='seed', latent='latent', inversion='inversion',
                 truncation='truncation')


def check_seed(value: Any, what: str = 'seed') -> int:
    """A seed: an integer (or integral float, as UI widgets give) in
    ``[0, 2**63)``.

    Raises:
        InvalidInputError: Naming ``what`` and the allowed range.
    """
    return check_int(value, what, 0, MAX_SEED, high_text='2**63')


def check_truncation(value: Any, what: str = 'truncation') -> float:
    """A truncation psi: a finite number (1 = none, 0 = the mean image).

    Raises:
        InvalidInputError: Naming ``what``.
    """
    return check_number(value, what)


@dataclass(frozen=True, eq=False)
class StartImage:
    """Where an edit starts.

    Exactly one of a ``seed`` (with an optional ``truncation`` psi), a W+
    ``latent`` and a photo's ``inversion`` (which starts at its pivot on its
    tuned weights); a ``latent`` together with an ``inversion`` starts that
    photo elsewhere than its pivot (a resumed photo edit). Make one with
    :meth:`create`, which checks this rule; the constructor takes the
    values as they are (for values already checked).

    Attributes:
        seed (int | None): Seed of the start latent (``z`` from a private
            RNG, then the mapping network).
        truncation (float | None): psi for ``seed``; None: the model's.
        latent (Tensor | str | None): The start W+ latent (1, L, C), or a
            file holding one (read, with the model's shape, by the drag).
        inversion (InversionFile | str | None): A photo's inversion, or its
            ``inversion.pth`` (or a name a session file holds, resolved
            where it is used).
    """
    seed: Optional[int] = None
    truncation: Optional[float] = None
    latent: Any = None
    inversion: Any = None

    @property
    def kind(self) -> str:
        """``'inversion'``, ``'latent'`` or ``'seed'``."""
        if self.inversion is not None:
            return 'inversion'
        return 'seed' if self.latent is None else 'latent'

    @classmethod
    def create(cls,
               seed: Any = None,
               latent: Any = None,
               inversion: Any = None,
               truncation: Any = None,
               default_seed: Optional[int] = DEFAULT_SEED,
               names: Optional[Mapping[str, str]] = None,
               flags: bool = True) -> 'StartImage':
        """Check a start and make it a value (the rule and its messages).

        Args:
            seed (int, optional): Seed of the start image.
            latent (Tensor | str, optional): Start W+ latent, or its file.
            inversion (InversionFile | str, optional): A photo's inversion.
            truncation (float, optional): psi for ``seed``.
            default_seed (int, optional): The seed when none of ``seed``,
                ``latent`` and ``inversion`` is given; None: one is
                required. Defaults to :data:`DEFAULT_SEED` (0).
            names (Mapping[str, str], optional): How the messages call
                ``seed``, ``latent``, ``inversion`` and ``truncation`` (e.g.
                the fields of a task file); defaults to :data:`API_NAMES`.
            flags (bool): Name the CLI flags (``--seed`` ...) in the
                messages too. Defaults to True.

        Returns:
            StartImage: The checked start.

        Raises:
            InvalidInputError: A seed with a latent or an inversion,
                truncation without a seed, no start when one is required,
                or a bad seed or truncation value.
        """
        n = dict(API_NAMES, **(names or {}))

        def hint(*kinds: str) -> str:
            return ' (' + ' / '.join(f'--{k}' for k in kinds) + ')' \
                if flags else ''

        if seed is not None and latent is not None:
            raise InvalidInputError(
                f'give a {n["seed"]} or a {n["latent"]}, not both' +
                hint('seed', 'latent'))
        if seed is not None and inversion is not None:
            raise InvalidInputError(
                f'an {n["inversion"]} starts at its pivot latent: give a '
                f'{n["seed"]} or an {n["inversion"]}, not both' +
                hint('seed', 'inversion'))
        if truncation is not None and (latent is not None
                                       or inversion is not None):
            raise InvalidInputError(
                f'{n["truncation"]} applies to a {n["seed"]} only; a latent '
                'is used as it is' +
                (' (drop --truncation)' if flags else ''))
        if seed is None and latent is None and inversion is None:
            if default_seed is None:
                raise InvalidInputError(
                    f'give exactly one of {n["seed"]}, {n["latent"]} and '
                    f'{n["inversion"]} for the start image ({n["latent"]} '
                    f'with {n["inversion"]} starts that photo elsewhere '
                    'than its pivot)' + hint('seed', 'latent', 'inversion'))
            seed = default_seed
        return cls(
            seed=None if seed is None else check_seed(seed, n['seed']),
            truncation=None if truncation is None else check_truncation(
                truncation, n['truncation']),
            latent=latent,
            inversion=inversion)
