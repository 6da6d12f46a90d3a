"""saematch.synthetic: the superposition data is what it says (codes read
back through the dictionary's inverse), and dictionary matching agrees with
a brute-force loop."""

import numpy as np
import pytest

import saematch as sm


def test_same_seed_same_data_and_unit_dictionary():
    a = sm.synthetic.superposition(num_features=40, d=12, tokens=3000, mean_active=3, seed=5)
    b = sm.synthetic.superposition(num_features=40, d=12, tokens=3000, mean_active=3, seed=5)
    c = sm.synthetic.superposition(num_features=40, d=12, tokens=3000, mean_active=3, seed=6)
    assert np.array_equal(a.activations, b.activations) and np.array_equal(a.dictionary, b.dictionary)
    assert not np.array_equal(a.activations, c.activations)
    assert a.activations.shape == (3000, 12) and a.activations.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a.dictionary, axis=1), 1.0, rtol=1e-6)
    assert np.all(np.diff(a.frequencies) <= 0)  # Zipf: feature 0 is the most frequent
    assert a.frequencies.sum() == pytest.approx(3.0)


def test_codes_read_back_through_the_dictionary():
    # With as many features as dimensions the dictionary is invertible, so each
    # token's coefficients can be recovered exactly and checked.
    data = sm.synthetic.superposition(num_features=10, d=10, tokens=20_000, mean_active=2, zipf_exponent=1.0,
                                      magnitude=(0.5, 1.5), seed=1, chunk_tokens=3000)
    codes = data.activations.astype(np.float64) @ np.linalg.inv(data.dictionary.astype(np.float64))
    active = np.abs(codes) > 1e-3
    assert np.all((codes[active] > 0.5 - 1e-3) & (codes[active] < 1.5 + 1e-3))
    assert np.array_equal(active.sum(axis=0), data.counts)
    # Each feature fires at its probability: within 5 binomial standard deviations.
    n = len(codes)
    sd = np.sqrt(n * data.frequencies * (1 - data.frequencies))
    assert np.all(np.abs(data.counts - n * data.frequencies) < 5 * sd)


def test_match_to_dictionary_agrees_with_a_loop():
    rng = np.random.default_rng(0)
    dictionary = rng.standard_normal((15, 6))
    decoder = rng.standard_normal((9, 6))
    decoder[4] = 0  # a dead latent: cosine 0 with every feature
    encoder = rng.standard_normal((9, 6))
    m = sm.synthetic.match_to_dictionary((encoder, decoder), dictionary)
    cos = np.zeros((15, 9))
    for f in range(15):
        for i in range(9):
            nd = np.linalg.norm(decoder[i])
            cos[f, i] = 0.0 if nd == 0 else dictionary[f] @ decoder[i] / (np.linalg.norm(dictionary[f]) * nd)
    np.testing.assert_allclose(m.feature_cos, cos.max(axis=1), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(m.feature_latent, cos.argmax(axis=1))
    np.testing.assert_allclose(m.latent_cos, cos.max(axis=0), rtol=1e-6, atol=1e-7)
    assert m.latent_cos[4] == 0
    np.testing.assert_array_equal(m.recovered_features(0.5), cos.max(axis=1) >= 0.5)
    enc = sm.synthetic.match_to_dictionary((encoder, decoder), dictionary, part="encoder")
    assert not np.allclose(enc.feature_cos, m.feature_cos)


def test_the_dictionary_itself_is_recovered_and_noise_is_not():
    data = sm.synthetic.superposition(num_features=64, d=16, tokens=10, seed=2)
    exact = sm.synthetic.match_to_dictionary((data.dictionary, 3.0 * data.dictionary), data.dictionary)
    assert exact.recovered_features().all() and exact.true_latents().all()
    np.testing.assert_array_equal(exact.latent_feature, np.arange(64))
    noise = np.random.default_rng(3).standard_normal((64, 16))
    random = sm.synthetic.match_to_dictionary((noise, noise), data.dictionary)
    assert random.recovered_features().mean() < 0.1


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="num_features must be a positive integer"):
        sm.synthetic.superposition(num_features=0)
    with pytest.raises(ValueError, match="mean_active must be in"):
        sm.synthetic.superposition(num_features=8, d=4, mean_active=9)
    with pytest.raises(ValueError, match="not reachable"):
        sm.synthetic.superposition(num_features=64, d=16, mean_active=5, zipf_exponent=1.0)
    with pytest.raises(ValueError, match="magnitude"):
        sm.synthetic.superposition(num_features=8, d=4, mean_active=1, magnitude=(1.0, 0.5))
    good = np.eye(4)
    with pytest.raises(ValueError, match="zero row"):
        sm.synthetic.match_to_dictionary((good, good), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="width 5"):
        sm.synthetic.match_to_dictionary((good, good), np.ones((2, 5)))
    with pytest.raises(ValueError, match="part must be"):
        sm.synthetic.match_to_dictionary((good, good), good, part="both")
    with pytest.raises(ValueError, match="sae must be"):
        sm.synthetic.match_to_dictionary(good, good)
