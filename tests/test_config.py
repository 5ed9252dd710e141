import pytest

from island_ssh.config import DEFAULT_CONFIG, load_settings
from island_ssh.core.errors import ConfigError


def test_shipped_config_loads_every_section():
    s = load_settings(DEFAULT_CONFIG, environ={})
    assert s.islands.port_start == 30000 and s.islands.ports_per_island == 3
    assert [n.labels["branch"] for n in s.sandbox.nodes] == ["dev", "dev", "weekly"]


def test_environment_overrides_file(tmp_path):
    s = load_settings(DEFAULT_CONFIG, environ={"ISLAND_SSH_SSH_PORT": "2222", "ISLAND_SSH_DATABASE_PASSWORD": "123"})
    assert s.ssh.port == 2222
    assert s.database.password == "123"  # a string setting stays a string even when it looks numeric


@pytest.mark.parametrize(
    "text, words",
    [
        ("ssh:\n  port: abc\n", ["ssh.port", "integer"]),
        ("ssh:\n  prot: 22\n", ["ssh.prot", "unknown"]),
        ("sshh: {}\n", ["sshh", "unknown section"]),
        ("islands:\n  capacity_check: maybe\n", ["islands.capacity_check", "true or false"]),
        ("ssh: [1\n", ["not valid YAML"]),
    ],
)
def test_bad_setting_names_key_and_file(tmp_path, text, words):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(f, environ={})
    assert str(f) in str(info.value)
    for w in words:
        assert w in str(info.value)


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="ISLAND_SSH_CONFIG"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_config_env_variable_names_the_file(tmp_path):
    f = tmp_path / "other.yaml"
    f.write_text("kube:\n  namespace: islands\n")
    assert load_settings(environ={"ISLAND_SSH_CONFIG": str(f)}).kube.namespace == "islands"
