"""Fuzz the USB descriptor decoder: only UsbDescriptorError may escape; valid input round-trips."""
from hypothesis import given, settings
from hypothesis import strategies as st

from sumame.firmware.net.usb_descriptor import (
    ConfigurationDescriptor,
    EndpointDescriptor,
    InterfaceDescriptor,
    RawDescriptor,
    UsbDescriptorError,
    build_configuration,
    parse_configuration,
    parse_device,
)

u8 = st.integers(0, 255)


@settings(max_examples=300, deadline=1500)
@given(st.binary(max_size=80))
def test_random_bytes_only_raise_descriptor_errors(data):
    for parse in (parse_device, parse_configuration):
        try:
            parse(data)
        except UsbDescriptorError:
            pass


class_specific = st.builds(lambda b: RawDescriptor(0x25, bytes([3, 0x25, b])), u8)
endpoints = st.lists(st.builds(EndpointDescriptor, u8, u8, st.integers(0, 0xFFFF), u8,
                               st.lists(class_specific, max_size=1).map(tuple)), max_size=3)
interfaces = st.lists(st.builds(InterfaceDescriptor, u8, u8, u8, u8, u8, u8,
                                endpoints.map(tuple)), max_size=3)


@settings(max_examples=150, deadline=1500)
@given(st.builds(ConfigurationDescriptor, u8, u8, u8, u8, interfaces.map(tuple)))
def test_built_configurations_round_trip(config):
    raw = build_configuration(config)
    parsed = parse_configuration(raw)
    assert build_configuration(parsed) == raw
    assert parsed.max_power == config.max_power
    assert [len(i.endpoints) for i in parsed.interfaces] == [len(i.endpoints)
                                                             for i in config.interfaces]


@settings(max_examples=200, deadline=1500)
@given(st.builds(ConfigurationDescriptor, u8, u8, u8, u8, interfaces.map(tuple)),
       st.data())
def test_mutated_configurations_only_raise_descriptor_errors(config, data):
    raw = bytearray(build_configuration(config))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(u8)
    cut = data.draw(st.integers(0, len(raw)))
    try:
        parse_configuration(bytes(raw[:cut]))
    except UsbDescriptorError:
        pass
