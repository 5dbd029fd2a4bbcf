"""Batched per-agent MLPs: every agent's parameters are stacked along a leading axis.

TorchRL's ``MultiAgentMLP`` habit: rather than a Python loop over 48 small networks, one
weight tensor of shape ``(n_agents, in, out)`` per layer runs all agents with one batched
matmul (``torch.baddbmm``). With ``share_params=True`` the stack has one member used by every
agent, and a learned per-agent embedding is added to the first layer's pre-activation, which is
the same as appending the agent's one-hot index to its input.

Inputs are either ``(n_agents, batch, in)`` (a different input per agent, e.g. local
observations) or ``(batch, in)`` (one input shared by every agent, e.g. a centralised critic's
global state and joint action); the shared case is a stride-0 view, so no copies are made.
(One GEMM against the concatenated ``(in, n·out)`` weights looks cheaper but measured 2x
slower than the batched matmul on the paper's critic shapes.) Outputs are always
``(n_agents, batch, out)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BatchedLinear(nn.Module):
    """``n_members`` independent linear layers; member i maps ``x[i] @ W[i] + b[i]``."""

    def __init__(
        self,
        n_members: int,
        in_features: int,
        out_features: int,
        *,
        init_bound: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_members, self.in_features, self.out_features = n_members, in_features, out_features
        # nn.Linear's default init, U(-1/sqrt(in), 1/sqrt(in)), per member unless a bound is given
        bound = init_bound if init_bound is not None else 1.0 / math.sqrt(in_features)
        weight = torch.empty(n_members, in_features, out_features)
        bias = torch.empty(n_members, 1, out_features)
        weight.uniform_(-bound, bound, generator=generator)
        bias.uniform_(-bound, bound, generator=generator)
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # one input for every member: a stride-0 view, not N copies
            x = x.expand(self.n_members, *x.shape)
        if x.shape[0] != self.n_members:
            raise ValueError(
                f"expected {self.n_members} members on axis 0, got shape {tuple(x.shape)}"
            )
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"members={self.n_members}, in={self.in_features}, out={self.out_features}"


class BatchedMLP(nn.Module):
    """One MLP per agent (or one shared), run batched; see the module docstring.

    ``hidden`` lists the hidden widths (the paper's "two fully connected layers" of 64 for the
    actor and 512 for the critic). ``out_activation`` is ``"sigmoid"`` for actors (actions in
    [0, 1]) or ``None``. The last layer starts small (±3e-3, as in DDPG) so initial actions sit
    near 0.5 and initial Q values near 0.
    """

    def __init__(
        self,
        n_agents: int,
        in_features: int,
        hidden: list[int] | tuple[int, ...],
        out_features: int,
        *,
        share_params: bool = False,
        out_activation: str | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_agents < 1 or in_features < 1 or out_features < 1 or not hidden:
            raise ValueError(
                f"BatchedMLP needs n_agents, in_features, out_features >= 1 and hidden layers; "
                f"got {n_agents}, {in_features}, {out_features}, {hidden}"
            )
        if out_activation not in (None, "sigmoid"):
            raise ValueError(f"out_activation must be None or 'sigmoid', got {out_activation!r}")
        self.n_agents, self.share_params = n_agents, share_params
        self.in_features, self.out_features = in_features, out_features
        members = 1 if share_params else n_agents
        widths = [in_features, *hidden]
        self.layers = nn.ModuleList(
            BatchedLinear(members, a, b, generator=generator)
            for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.head = BatchedLinear(
            members, widths[-1], out_features, init_bound=3e-3, generator=generator
        )
        if share_params:
            self.agent_embedding = nn.Parameter(torch.zeros(n_agents, 1, hidden[0]))
        self.out_activation = out_activation

    def input_preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """First layer before its ReLU, as ``(n_agents, batch, hidden[0])``."""
        first = self.layers[0]
        if not self.share_params:
            return first(x)
        if x.dim() == 2:
            h = first(x)  # (1, batch, hidden)
        else:
            n, batch, _ = x.shape
            h = first(x.reshape(1, n * batch, -1)).view(n, batch, -1)
        return h + self.agent_embedding

    def from_preactivation(self, pre: torch.Tensor) -> torch.Tensor:
        """The rest of the network, given the first layer's pre-activation."""
        h = torch.relu(pre)
        n, batch, _ = h.shape
        for layer in [*self.layers[1:], self.head]:
            if self.share_params:
                h = layer(h.reshape(1, n * batch, -1)).view(n, batch, -1)
            else:
                h = layer(h)
            if layer is not self.head:
                h = torch.relu(h)
        return torch.sigmoid(h) if self.out_activation == "sigmoid" else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_preactivation(self.input_preactivation(x))

    def own_input_weight(self, offset: int, width: int) -> torch.Tensor:
        """Each agent n's first-layer rows ``offset + width·n`` onward, shape ``(n, width, h)``.

        A centralised critic's input holds every agent's action side by side; agent n's own
        action occupies ``width`` columns starting at ``offset + width·n``. This lets the actor
        update change only agent n's action in agent n's critic without rebuilding the input.
        """
        w = self.layers[0].weight  # (members, in, hidden)
        rows = offset + width * torch.arange(self.n_agents, device=w.device)
        rows = rows[:, None] + torch.arange(width, device=w.device)  # (n, width)
        if self.share_params:
            return w[0][rows]
        return w[torch.arange(self.n_agents, device=w.device)[:, None], rows]


def soft_update_(target: nn.Module, source: nn.Module, tau: float) -> None:
    """θ' ← τ θ + (1 − τ) θ'  (Polyak averaging, one fused call over all tensors)."""
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


def clip_grad_norm_per_agent_(module: nn.Module, max_norm: float, n_members: int) -> torch.Tensor:
    """Clip each stacked member's gradient norm separately (one agent never throttles another).

    Every parameter's axis 0 indexes members; parameters without that axis (shared embeddings)
    count towards every member. Returns the pre-clip norms, shape ``(n_members,)``.
    """
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(n_members)
    sq = torch.zeros(n_members, device=grads[0].device)
    for g in grads:
        if g.shape[0] == n_members:
            sq = sq + g.reshape(n_members, -1).pow(2).sum(1)
        else:
            sq = sq + g.pow(2).sum()
    norms = sq.sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        if g.shape[0] == n_members:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
        else:
            g.mul_(scale.min())
    return norms
