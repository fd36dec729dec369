from codespark.models import CATALOG, DEFAULT_MODEL_ID, ensure_model_file, format_model_table, list_models

from .conftest import make_spec


def test_real_catalog_status(tmp_path):
    statuses = {s.id: s for s in list_models(cache_dir=tmp_path)}
    assert set(statuses) == set(CATALOG)

    default = statuses[DEFAULT_MODEL_ID]
    assert default.default and default.tier == "realtime" and default.size == 491400064
    assert default.packages_installed and default.missing_packages == ()  # main dependencies
    assert default.path == tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert not default.joined and not default.verified

    deep = statuses["qwen2.5-coder-1.5b"]
    assert not deep.default and deep.tier == "deep" and deep.extra == "deep"
    # Installed or not depending on the extra; either way the fields must agree.
    assert deep.packages_installed == (deep.missing_packages == ())


def test_status_after_join_shows_the_ready_file(real_default_model):
    cache, resolved = real_default_model
    default = {s.id: s for s in list_models(cache_dir=cache)}[DEFAULT_MODEL_ID]
    assert default.joined and default.verified and default.path == resolved.path
    table = format_model_table(list_models(cache_dir=cache))
    assert f"ready: {resolved.path}" in table


def test_table_shows_missing_packages_and_how_to_install(fake_model, tmp_path):
    absent = make_spec(("fake-gone-part1", "fake-gone-part2"), b"GGUF x", extra="deep", tier="deep")
    catalog = {fake_model.spec.id: fake_model.spec, absent.id: absent}
    ensure_model_file(fake_model.spec, cache_dir=tmp_path)

    statuses = list_models(cache_dir=tmp_path, catalog=catalog)
    table = format_model_table(statuses, catalog=catalog)
    print(table)
    lines = table.splitlines()
    assert lines[0].split() == ["MODEL", "TIER", "SIZE", "CHUNK", "PACKAGES", "FILE"]
    present_row = next(line for line in lines if line.startswith(fake_model.spec.id))
    absent_row = next(line for line in lines if line.startswith(absent.id))
    assert "installed (3/3)" in present_row and f"ready: {tmp_path / fake_model.spec.upstream_file}" in present_row
    assert "missing 2/2" in absent_row
    assert f"{absent.id}: install the chunk packages with `uv sync --extra deep`" in table
    # Columns line up: every row's FILE column starts at the same offset.
    offset = lines[0].index("FILE")
    assert present_row[offset:].startswith("ready:") and absent_row[offset:] == "-"


def test_table_for_the_real_catalog_is_readable(tmp_path):
    table = format_model_table(list_models(cache_dir=tmp_path))
    assert "qwen2.5-coder-0.5b (default)" in table
    assert "qwen2.5-coder-1.5b" in table
    assert "491.4 MB" in table and "1.1 GB" in table
