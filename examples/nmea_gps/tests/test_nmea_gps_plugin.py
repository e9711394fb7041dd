"""The nmea_gps plugin on its own: spec examples, checksum, what a fix becomes, and one stored fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from specgate_nmea_gps import plugin
from specgate_nmea_gps.nmea import checksum, fix_values

from core.api import FrameError, ListenerConfig, ListQuery, Session, load_spec
from core.config import load_config
from core.store import open_store

SPEC_PATH = Path(plugin.__file__).with_name("nmea_gps.yaml")
GGA = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = b"$GPRMC,225446,A,4916.45,N,12311.12,W,000.5,054.7,191194,020.3,E*68"
NO_FIX = b"$GPRMC,,V,,,,,,,,,,N*53"


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC_PATH)  # runs the spec's examples too


def session_for(spec, store, config, listener_options=None, clock=lambda: 1_700_000_000.5):
    listener = ListenerConfig("nmea_gps", 0, host="127.0.0.1", options=dict(listener_options or {}))
    return Session("nmea_gps", "192.0.2.7", 40000, 0, listener, spec, store, config, 0.0, clock=clock)


def test_the_spec_has_its_three_sentences(spec):
    assert spec.name == "nmea_gps"
    assert {name for name, m in spec.messages.items() if m.direction == "uplink"} == {"gga", "rmc", "vtg"}


def test_checksum_is_the_xor_between_dollar_and_star():
    assert checksum(GGA) == "47"
    assert checksum(RMC) == "68"
    assert checksum(b"no sentence") == "00"


def test_a_wrong_checksum_is_a_frame_error(spec):
    bad = GGA.replace(b"545.4", b"545.5")
    with pytest.raises(FrameError) as raised:
        plugin.specgate_decode_frame(session_for(spec, None, None), bad)
    assert raised.value.path == "gga -> checksum"
    assert (raised.value.expected, raised.value.found) == ("46", "47")
    assert plugin.specgate_decode_frame(session_for(spec, None, None), GGA).values["altitude"] == Decimal("545.4")


def test_a_gga_fix_becomes_decimal_degrees(spec):
    values = fix_values(spec.decode(GGA))
    assert values == {
        "sentence": "GPGGA",
        "time": "12:35:19",
        "latitude": Decimal("48.1173000000"),
        "longitude": Decimal("11.5166666667"),
        "quality": "gps",
        "satellites": 8,
        "hdop": Decimal("0.9"),
        "altitude_m": Decimal("545.4"),
    }


def test_an_rmc_fix_west_is_negative_and_has_its_date(spec):
    values = fix_values(spec.decode(RMC))
    assert values["latitude"] == Decimal("49.2741666667")
    assert values["longitude"] == Decimal("-123.1853333333")
    assert (values["date"], values["time"], values["speed_knots"]) == ("1994-11-19", "22:54:46", Decimal("0.5"))
    later = spec.decode(b"$GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A*43")
    assert (fix_values(later)["date"], fix_values(later)["time"]) == ("2011-05-28", "09:27:50.000")


def test_sentences_without_a_fix_are_not_kept(spec):
    assert fix_values(spec.decode(NO_FIX)) is None
    assert fix_values(spec.decode(b"$GPGGA,,,,,,0,00,99.99,,,,,,*48")) is None
    assert fix_values(spec.decode(b"$GPVTG,054.7,T,034.4,M,005.5,N,010.2,K*48")) is None


async def test_a_fix_is_stored_under_the_device_id_with_the_session_clock(spec, tmp_path):
    config = load_config(env={}, store_url=f"sqlite:///{tmp_path / 'x.db'}", options=plugin.specgate_declare_options())
    async with open_store(config.store_url) as store:
        session = session_for(spec, store, config, {"device_id": "tracker-7"})
        outcome = await plugin.specgate_handle_message(session, spec.decode(GGA))
        await outcome.store(store)
        skipped = await plugin.specgate_handle_message(session, spec.decode(NO_FIX))
        assert skipped.store is None
        page = await store.list_measurements(ListQuery())
    [kept] = page.items
    assert (kept["device_id"], kept["at"], kept["device_type"]) == ("tracker-7", 1_700_000_000.5, "nmea_gps")
    assert kept["values"]["latitude"] == Decimal("48.1173000000")


def test_the_default_listener_and_device_id(spec, tmp_path):
    config = load_config(env={}, options=plugin.specgate_declare_options())
    [listener] = plugin.specgate_declare_listeners(config)
    assert (listener.port, listener.on_bad_frame, listener.log_exchanges) == (10110, "skip", False)
    assert plugin.device_id_for(session_for(spec, None, config)) == "192.0.2.7"
