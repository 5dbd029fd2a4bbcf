"""The batched core and ``mec_env.vector_env`` (docs/vector.md): copy b equals
``parallel_env`` seeded alike, bit for bit; batched matchers equal the per-copy ones; auto-reset;
bad input names the copy and the agent."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import mec_env
from mec_env import batched_matching, matching
from mec_env.config import make_config
from mec_env.matching import SlotState
from mec_env.spec import ES_INFO_KEYS, SLOT_INFO_KEYS, UD_INFO_KEYS
from tests.env.helpers import HETEROGENEOUS

PRESETS = ("small", "paper_kb", "paper", "paper_energy")
#: the time-coupled presets (per-UD queues, carried backlogs): numpy only
QUEUE_PRESETS = ("queue", "queue_heavy", "queue_small", "queue_energy")
MATCHERS = ("co_selection", "max_gain", "random")


def _compare(vec, single, obs, infos, result, b):
    """Copy b of the vector env's outputs against the single env's ``(obs, infos)``."""
    o, i = result
    slot_keys = set(SLOT_INFO_KEYS)
    uds, ess = single.ud_agents, single.es_agent_names
    assert_array_equal(np.stack([o[a] for a in uds]), obs["ud"][b], err_msg=f"copy {b}")
    for k in UD_INFO_KEYS:
        got = infos[k][b]
        if k in slot_keys:
            got = np.broadcast_to(got, (len(uds),))
        want = np.array([i[a][k] for a in uds])
        assert want.dtype.kind == np.asarray(got).dtype.kind, k
        assert_array_equal(want, got, err_msg=f"UD info {k}, copy {b}")
    for m, a in enumerate(ess):
        z = int(vec.config.z_max[m])
        row = obs["es"][b, m]
        assert_array_equal(o[a], np.concatenate([row[: 6 * z], row[-3:]]), err_msg=a)
        for k in ES_INFO_KEYS:
            got = infos[k][b] if k in slot_keys else infos[k][b, m]
            if k == "members":
                got = got[:z]
            assert_array_equal(np.asarray(i[a][k]), got, err_msg=f"info {k} of {a}, copy {b}")
    assert_array_equal(single.state(), vec.state()[b])


def play_both(
    preset: str,
    num_envs: int = 2,
    episodes: int = 2,
    seed: int = 0,
    actions: str = "random",
    **overrides,
) -> None:
    """Play ``episodes`` episodes (with auto-resets) in a vector env and in ``num_envs``
    single envs with the same seeds and actions; every output must be equal."""
    # the numpy core (the reference) against single envs running the per-copy matchers;
    # tests/env/test_fast.py checks the compiled kernels against this numpy core
    vec = mec_env.vector_env(num_envs, preset, kernels="numpy", **overrides)
    singles = [mec_env.parallel_env(preset, kernels="numpy", **overrides) for _ in range(num_envs)]
    seeds = [seed + 101 * b for b in range(num_envs)]
    obs, infos = vec.reset(seed=seeds)
    for b, (env, s) in enumerate(zip(singles, seeds, strict=True)):
        _compare(vec, env, obs, infos, env.reset(seed=s), b)
    cfg, rng = vec.config, np.random.default_rng(seed)
    n, m, z = cfg.n_uds, cfg.n_servers, vec.z_cap
    for _ in range(episodes * (cfg.n_slots + 1) - 1):
        ud = rng.random((num_envs, n, 3))
        if actions == "offload":  # everyone asks: admission and the queue have work to do
            ud[..., 0] = 1.0
        act = {"ud": ud}
        if vec.es_agents:
            es = rng.integers(0, 2, (num_envs, m, z))
            if cfg.es_action_space == "box":
                es = rng.random((num_envs, m, z))
            act["es"] = es
        restart = vec._needs_reset.copy()
        obs, rewards, terminated, truncated, infos = vec.step(act)
        assert not terminated.any()
        for b, env in enumerate(singles):
            if restart[b]:  # next-step auto-reset: this call reset copy b
                _compare(vec, env, obs, infos, env.reset(), b)
                assert not truncated[b] and not rewards["ud"][b].any()
                continue
            d = {a: ud[b, k] for k, a in enumerate(env.ud_agents)}
            d.update(
                {a: act["es"][b, k, : int(cfg.z_max[k])] for k, a in enumerate(env.es_agent_names)}
            )
            o, r, _, tr, i = env.step(d)
            _compare(vec, env, obs, infos, (o, i), b)
            assert_array_equal([r[a] for a in env.ud_agents], rewards["ud"][b])
            assert_array_equal(
                [r[a] for a in env.es_agent_names], rewards["es"][b] if vec.es_agents else []
            )
            assert tr["ud_0"] == truncated[b]


@pytest.mark.parametrize("es_agents", [True, False])
@pytest.mark.parametrize("matcher", MATCHERS)
@pytest.mark.parametrize("preset", PRESETS + QUEUE_PRESETS)
def test_copy_b_equals_parallel_env(preset, matcher, es_agents):
    episodes = 1 if preset == "paper_energy" else 2
    overrides = {"n_slots": 12} if preset == "paper_energy" else {}
    if preset in QUEUE_PRESETS:  # 100 slots (20 in queue_small): queues fill in 15
        overrides = {"n_slots": 15}
    play_both(preset, matcher=matcher, es_agents=es_agents, episodes=episodes, **overrides)


@pytest.mark.parametrize("preset", ["queue_small", "queue_heavy"])
def test_copy_b_equals_parallel_env_queues_all_offload(preset):
    # everyone asks: the ES CPU backlogs carry over and requests are cut and wait
    play_both(preset, num_envs=3, episodes=1, actions="offload", n_slots=15, subchannels=1)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(n_uds=130, n_servers=9),  # > 4 open servers: co_selection's pruned path
        dict(n_uds=60),  # more UDs than places
        dict(
            n_uds=90, n_servers=7, n_cpus=[1, 2, 3, 4, 5, 6, 8], z_max=[10, 12, 14, 16, 16, 12, 10]
        ),
        dict(es_action_space="box"),
        dict(normalize_obs=False),
    ],
)
def test_copy_b_equals_parallel_env_other_configs(overrides):
    play_both("paper_kb", num_envs=3, episodes=1, actions="offload", n_slots=4, **overrides)


@pytest.mark.parametrize("matcher", MATCHERS)
def test_heterogeneous_servers(matcher):
    play_both("small", num_envs=3, matcher=matcher, actions="offload", **HETEROGENEOUS)


@pytest.mark.parametrize(
    "admission", ["accept_all", "offload_cost_first", "deadline_first", "saving_first"]
)
def test_admission_rules_batched(admission):
    play_both(
        "small",
        num_envs=3,
        es_agents=False,
        admission=admission,
        actions="offload",
        n_uds=12,
        subchannels=[2, 3],
        storage_bytes=[60e3, 90e3],
    )


def test_int_seed_gives_copy_b_seed_plus_b():
    vec = mec_env.vector_env(3, "small")
    obs, _ = vec.reset(seed=7)
    for b in range(3):
        o, _ = mec_env.parallel_env("small").reset(seed=7 + b)
        assert_array_equal(obs["ud"][b, 0], o["ud_0"])
    with pytest.raises(ValueError, match="3 seeds"):
        vec.reset(seed=[1, 2])


def test_next_step_autoreset_and_disabled():
    vec = mec_env.vector_env(2, "small", n_slots=2)
    assert vec.metadata["autoreset_mode"].value == "NextStep"
    vec.reset(seed=0)
    act = {"ud": np.full((2, 6, 3), 0.5), "es": np.ones((2, 2, 4))}
    _, _, _, truncated, _ = vec.step(act)
    assert not truncated.any()
    _, _, _, truncated, _ = vec.step(act)
    assert truncated.all()
    obs, rewards, _, truncated, infos = vec.step(act)  # the reset step
    assert not truncated.any() and not rewards["ud"].any() and not infos["requested"].any()
    assert (obs["ud"][..., 5] == 1.0).all()  # full batteries
    off = mec_env.vector_env(2, "small", n_slots=1, autoreset=False)
    off.reset(seed=0)
    off.step(act)
    with pytest.raises(mec_env.ActionError, match="copy 0 finished"):
        off.step(act)


def test_spaces_hold_the_outputs():
    vec = mec_env.vector_env(3, "small", **HETEROGENEOUS)
    obs, _ = vec.reset(seed=0)
    assert obs["ud"].shape == (3, 9, 13) and obs["es"].shape == (3, 3, 6 * 4 + 3)
    assert vec.observation_space.contains(obs)
    assert vec.state().shape == vec.state_space.shape
    assert vec.state_space.contains(vec.state())
    vec.action_space.seed(0)
    obs, *_ = vec.step(vec.action_space.sample())
    assert vec.observation_space.contains(obs)
    assert vec.single_observation_space["ud"].shape == (9, 13)


# ------------------------------------------------------------------ batched matchers


def random_slots(rng, batch, **overrides) -> SlotState:
    cfg = make_config("small", **overrides)
    n, m = cfg.n_uds, cfg.n_servers
    return SlotState(
        config=cfg,
        bits=rng.uniform(*cfg.task_bits, size=(batch, n)),
        cycles_per_bit=rng.uniform(*cfg.cycles_per_bit, size=(batch, n)),
        deadline_s=rng.uniform(*cfg.deadline_s, size=(batch, n)),
        gain=10.0 ** (rng.uniform(*cfg.gain_db, size=(batch, n, m)) / 10.0),
        battery_j=np.full((batch, n), cfg.b_max_j),
    )


def one(slots: SlotState, b: int) -> SlotState:
    return SlotState(
        slots.config,
        slots.bits[b],
        slots.cycles_per_bit[b],
        slots.deadline_s[b],
        slots.gain[b],
        slots.battery_j[b],
    )


@pytest.mark.parametrize("name", MATCHERS)
def test_batched_matcher_equals_per_copy(name):
    rng = np.random.default_rng(3)
    for _ in range(25):
        m = int(rng.integers(1, 8))
        overrides = dict(
            n_servers=m,
            n_uds=int(rng.integers(1, 40)),
            z_max=[int(z) for z in rng.integers(1, 8, m)],
            n_cpus=[int(u) for u in rng.integers(1, 4, m)],
            f_server_hz=[float(f) for f in rng.uniform(1e9, 8e9, m)],
        )
        slots = random_slots(rng, 4, **overrides)
        rngs = [np.random.default_rng(s) for s in range(4)]
        got = batched_matching.match(name, slots, rngs)
        for b in range(4):
            ref_rng = np.random.default_rng(b)
            assert_array_equal(got[b], matching.MATCHERS[name](one(slots, b), ref_rng))
            assert rngs[b].random() == ref_rng.random()  # the generator advanced alike


def test_batched_co_selection_ties():
    # identical UDs and servers (every score ties), as in test_matching.py
    cfg = make_config("small", n_uds=6, n_servers=2, z_max=4, n_cpus=1)
    same = SlotState(
        cfg,
        np.full((2, 6), 8e4),
        np.full((2, 6), 500.0),
        np.ones((2, 6)),
        np.full((2, 6, 2), 10.0),
        np.ones((2, 6)),
    )
    assert_array_equal(batched_matching.co_selection_batched(same, None), [[0, 0, 0, 0, 1, 1]] * 2)
    for n in (3, 9, 17):
        cfg = make_config("small", n_uds=n, n_servers=3, z_max=4, n_cpus=3)
        gain = np.tile([10.0, 10.0, 20.0], (n, 1))
        gain[::2] = gain[::2, ::-1]
        bits = np.where(np.arange(n) % 3 == 0, 8e4, 1.6e5)
        s1 = SlotState(cfg, bits, np.full(n, 500.0), np.ones(n), gain, np.ones(n))
        sb = SlotState(
            cfg, bits[None], np.full((1, n), 500.0), np.ones((1, n)), gain[None], np.ones((1, n))
        )
        assert_array_equal(
            batched_matching.co_selection_batched(sb)[0], matching.co_selection(s1, None)
        )


@pytest.fixture
def clean_registries():
    with mec_env.MATCHERS.restored(), mec_env.ADMISSIONS.restored():
        yield


def test_user_matcher_and_rule_run_per_copy(clean_registries):
    def last_first(slot, rng):
        server = np.full(slot.n_uds, -1, dtype=np.int64)
        k = min(slot.n_uds, int(slot.config.z_max[-1]))
        server[:k] = slot.config.n_servers - 1
        rng.random()  # draws from the copy's generator
        return server

    def smallest_first(ctx):
        return ctx.slot.bits

    mec_env.register_matcher("last_first", last_first)
    mec_env.register_admission("smallest_first", smallest_first)
    assert "batched" not in mec_env.MATCHERS.metadata("last_first")
    play_both(
        "small",
        num_envs=3,
        matcher="last_first",
        es_agents=False,
        admission="smallest_first",
        actions="offload",
    )
    play_both("small", num_envs=2, matcher="last_first")


def test_user_batched_matcher_is_used(clean_registries):
    calls = []

    def per_copy(slot, rng):
        return np.zeros(slot.n_uds, dtype=np.int64)

    def batched(slots, rngs):
        calls.append(len(rngs))
        return np.zeros(slots.bits.shape, dtype=np.int64)

    mec_env.register_matcher("first", per_copy, batched=batched)
    vec = mec_env.vector_env(3, "small", matcher="first", z_max=6)
    vec.reset(seed=0)
    assert calls == [3]


def test_bad_user_matcher_names_the_copy(clean_registries):
    def bad(slot, rng):
        return np.full(slot.n_uds, 7, dtype=np.int64)

    mec_env.register_matcher("bad", bad)
    with pytest.raises(mec_env.MatcherError, match="copy 0"):
        mec_env.vector_env(2, "small", matcher="bad").reset(seed=0)


# ------------------------------------------------------------------ bad input


@pytest.fixture
def vec():
    v = mec_env.vector_env(3, "small")
    v.reset(seed=0)
    return v


def good(v, value=0.5):
    return {
        "ud": np.full((v.num_envs, v.n_uds, 3), value),
        "es": np.ones((v.num_envs, v.n_servers, v.z_cap)),
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("es"), r"missing \['es'\]"),
        (lambda a: a.pop("ud"), r"missing \['ud'\]"),
        (lambda a: a.update(extra=1), r"unexpected \['extra'\]"),
        (lambda a: a.update(ud=a["ud"][:2]), r"shape \(num_envs, N, 3\) = \(3, 6, 3\)"),
        (lambda a: a.update(ud=a["ud"][..., :2]), r"got \(3, 6, 2\)"),
        (lambda a: a.update(es=a["es"][:, :1]), r"actions\['es'\] must have shape"),
        (lambda a: a.update(ud="fast"), "not numeric"),
        (lambda a: a.update(ud=a["ud"].astype(complex)), "dtype complex128"),
        (lambda a: a.update(ud=a["ud"].astype(str)), r"actions\['ud'\] is not numeric"),
        (lambda a: a.update(es=a["es"].astype(str)), r"actions\['es'\] is not numeric"),
        (lambda a: a.update(es=a["es"].astype(complex)), r"actions\['es'\] is not numeric"),
        (lambda a: a["ud"].__setitem__((1, 4, 2), np.nan), "copy 1, agent ud_4"),
        (lambda a: a["ud"].__setitem__((2, 0, 0), 1.5), "copy 2, agent ud_0"),
        (lambda a: a["ud"].__setitem__((0, 5, 1), -0.1), "copy 0, agent ud_5"),
        (lambda a: a["es"].__setitem__((2, 1, 3), 0.5), "copy 2, agent es_1"),
        (lambda a: a["es"].__setitem__((1, 0, 0), np.nan), "copy 1, agent es_0"),
    ],
)
def test_bad_actions_name_copy_and_agent(vec, change, message):
    actions = good(vec)
    change(actions)
    with pytest.raises(mec_env.ActionError, match=message):
        vec.step(actions)


def test_non_dict_and_step_before_reset():
    v = mec_env.vector_env(2, "small")
    with pytest.raises(mec_env.ActionError, match="before reset"):
        v.step(good(v))
    v.reset(seed=0)
    with pytest.raises(mec_env.ActionError, match="dict group"):
        v.step(np.zeros((2, 6, 3)))
    with pytest.raises(ValueError, match="num_envs"):
        mec_env.vector_env(0, "small")


def test_clip_actions_per_copy():
    """Each copy's bad actions are clipped as parallel_env(clip_actions=True) clips them."""
    vec = mec_env.vector_env(2, "small", clip_actions=True)
    single = mec_env.parallel_env("small", clip_actions=True)
    vec.reset(seed=[5, 6])
    single.reset(seed=6)
    act = good(vec)
    act["ud"][1, 2] = [np.nan, 7.0, -3.0]
    act["ud"][1, 3] = [np.inf, -np.inf, 0.2]
    act["es"][1, 0, :2] = [0.7, np.nan]
    _, rewards, _, _, infos = vec.step(act)
    d = {a: act["ud"][1, k] for k, a in enumerate(single.ud_agents)}
    d.update({a: act["es"][1, k] for k, a in enumerate(single.es_agent_names)})
    _, r, _, _, i = single.step(d)
    assert_array_equal([r[a] for a in single.ud_agents], rewards["ud"][1])
    assert infos["f_hz"][1, 2] == i["ud_2"]["f_hz"] == vec.config.f_max_hz
    assert not infos["requested"][1, 2]  # NaN x^u clipped to 0: no request
    # copy 0 had only good actions: the same as a copy stepped without clipping
    plain = mec_env.vector_env(1, "small")
    plain.reset(seed=[5])
    _, r0, *_ = plain.step({"ud": act["ud"][:1], "es": act["es"][:1]})
    assert_array_equal(r0["ud"][0], rewards["ud"][0])


def test_vector_env_imports_without_torch_or_numba():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['numba'] = None\n"
        "import mec_env\n"
        "v = mec_env.vector_env(2, 'small'); v.reset(seed=0)\n"
        "v.step({'ud': [[[0.5] * 3] * 6] * 2, 'es': [[[1] * 4] * 2] * 2})\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_gymnasium_vector_interface_and_partial_reset():
    from gymnasium.vector import VectorEnv

    vec = mec_env.vector_env(3, "small", n_slots=3)
    assert isinstance(vec, VectorEnv) and vec.num_envs == 3
    vec.reset(seed=[1, 2, 3])
    act = {"ud": np.full((3, 6, 3), 0.7), "es": np.ones((3, 2, 4))}
    before, *_ = vec.step(act)
    obs, infos = vec.reset(seed=[9], options={"reset_mask": [False, True, False]})
    again, _ = mec_env.parallel_env("small").reset(seed=9)
    assert_array_equal(obs["ud"][1, 0], again["ud_0"])
    assert_array_equal(obs["ud"][[0, 2]], before["ud"][[0, 2]])
    assert (infos["battery_j"][1] == vec.config.b_max_j).all()
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": [True]})


@pytest.mark.parametrize("kernels", ["numpy", "auto"])
def test_envs_deepcopy_and_pickle(kernels):
    """The core keeps a kernel module, which does not pickle: copies resolve it again."""
    import copy
    import pickle

    env = mec_env.parallel_env("small", kernels=kernels)
    env.reset(seed=0)
    twins = [copy.deepcopy(env), pickle.loads(pickle.dumps(env))]
    act = {a: env.action_space(a).sample() for a in env.agents}
    want = env.step(act)[1]
    for twin in twins:
        assert twin._core.kernels is env._core.kernels
        assert twin.step(act)[1] == want
    vec = mec_env.vector_env(2, "small", kernels=kernels)
    vec.reset(seed=0)
    assert pickle.loads(pickle.dumps(vec)).num_envs == 2


@pytest.mark.parametrize("preset", ["small", "queue_small"])
@pytest.mark.parametrize("lock_step", [True, False])
def test_step_outputs_are_not_overwritten_by_later_steps(lock_step, preset):
    # a step's infos (battery_j, f_hz, p_w are the core's next state) stay as returned when
    # later steps reset copies (auto-reset of all copies, or of some)
    vec = mec_env.vector_env(3, preset, kernels="numpy")
    vec.reset(seed=0)
    if not lock_step:  # copy 0 one slot ahead: its auto-reset comes while the others play
        vec.step(
            {
                "ud": np.full((3, vec.n_uds, 3), 0.7),
                "es": np.ones((3, vec.n_servers, vec.z_cap), dtype=np.int8),
            }
        )
        vec.reset(seed=[1, 2], options={"reset_mask": [False, True, True]})
    rng = np.random.default_rng(0)
    kept = []
    for _ in range(2 * vec.config.n_slots + 2):
        act = {
            "ud": rng.random((3, vec.n_uds, 3)),
            "es": rng.integers(0, 2, (3, vec.n_servers, vec.z_cap)),
        }
        infos = vec.step(act)[-1]
        kept.append((infos, {k: np.copy(v) for k, v in infos.items()}))
    for infos, copy in kept:
        for k, v in copy.items():
            assert_array_equal(infos[k], v, err_msg=k)


def test_partial_reset_with_an_int_seed_gives_copy_b_seed_plus_b():
    """``reset(seed=s, options={"reset_mask": mask})`` seeds each reset copy b with s + b, as
    the docs say (was: the k-th reset copy got s + k, so copy 2 here got 500)."""
    vec = mec_env.vector_env(4, "small")
    vec.reset(seed=0)
    obs, _ = vec.reset(seed=500, options={"reset_mask": [False, False, True, True]})
    for b in (2, 3):
        single = mec_env.parallel_env("small")
        o, _ = single.reset(seed=500 + b)
        assert_array_equal(obs["ud"][b], np.stack([o[a] for a in single.ud_agents]))


def test_state_before_reset_says_so():
    from gymnasium.error import ResetNeeded

    with pytest.raises(ResetNeeded, match=r"state\(\) called before reset\(\)"):
        mec_env.vector_env(2, "small").state()


@pytest.mark.parametrize("preset", ["small", "queue_small"])
def test_step_copies_steps_only_those_copies_exactly_as_step(preset):
    from mec_env.policies import slot_view

    full = mec_env.vector_env(3, preset, autoreset=False)
    part = mec_env.vector_env(3, preset, autoreset=False)
    full.reset(seed=4)
    obs0, _ = part.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(full.config.n_slots):
        actions = {
            "ud": rng.random((3, full.n_uds, 3)),
            "es": rng.integers(0, 2, (3, full.n_servers, full.z_cap)),
        }
        o, r, _, tr, info = full.step(actions)
        po, pr, _, ptr, pinfo = part.step_copies({k: v[[0, 2]] for k, v in actions.items()}, [0, 2])
        for k in o:
            assert_array_equal(po[k], o[k][[0, 2]])
        for k in r:
            assert_array_equal(pr[k], r[k][[0, 2]])
        for k in info:
            assert_array_equal(pinfo[k], info[k][[0, 2]])
        assert_array_equal(ptr, tr[[0, 2]])
        assert_array_equal(part.state()[1], np.concatenate(  # copy 1 waited
            [obs0["ud"][1].ravel(), part.state()[1][obs0["ud"][1].size :]]
        ))  # fmt: skip
    assert part.playing.tolist() == [False, True, False]
    with pytest.raises(mec_env.ActionError, match="copy 0 finished its episode"):
        part.step_copies({k: v[[0]] for k, v in actions.items()}, [0])
    single = mec_env.parallel_env(preset)
    single.reset(seed=5)
    view, ref = part.slot_view(1), slot_view(single)
    assert view.agents == ref.agents and view.es_agent_names == ref.es_agent_names
    assert_array_equal(view.members, ref.members)
    if preset == "queue_small":  # copy 1 waited at its reset: its queues are the single env's
        assert_array_equal(view.queues.length, ref.queues.length)
        assert_array_equal(view.queues.es_free_s, ref.queues.es_free_s)
    assert_array_equal(view.current_slot.gain, ref.current_slot.gain)
    assert_array_equal(part.members[1], single.members)
    assert part.slot_view(0).agents == ()
