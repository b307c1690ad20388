-- ECHONET Lite dissector for Wireshark / tshark (Wireshark has none built in).
-- Part of sumame. Registered on UDP port 3610 (ECHONET Lite Part 2 §1.2), so it decodes the
-- B-route over IP and the inner UDP of Wi-SUN captures (wpan / 6lowpan / ipv6 / udp) alike.
--
-- Decodes: EHD1, EHD2, TID, SEOJ/DEOJ (class names for the node profile 0x0EF0, the LV meter
-- 0x0288, the HV meter 0x028A, the controller 0x05FF), ESV (with names), OPC, and every
-- EPC / PDC / EDT (EPC names for those classes and the device superclass; a few values
-- decoded: E7 W, E8 A, property maps). SetGet (0x6E/0x7E/0x5E) carries OPCSet and OPCGet.
-- Install: copy to ~/.local/lib/wireshark/plugins/ (or run tshark -X lua_script:THIS_FILE).
-- Display filter: echonet_lite, fields echonet_lite.esv, echonet_lite.epc, echonet_lite.epc_name ...

local p = Proto("echonet_lite", "ECHONET Lite")

local ESV = {
  [0x50] = "SetI_SNA", [0x51] = "SetC_SNA", [0x52] = "Get_SNA", [0x53] = "INF_SNA",
  [0x5E] = "SetGet_SNA", [0x60] = "SetI", [0x61] = "SetC", [0x62] = "Get", [0x63] = "INF_REQ",
  [0x6E] = "SetGet", [0x71] = "Set_Res", [0x72] = "Get_Res", [0x73] = "INF", [0x74] = "INFC",
  [0x7A] = "INFC_Res", [0x7E] = "SetGet_Res",
}
local CLASS = {
  [0x0EF0] = "Node profile", [0x0288] = "Low-voltage smart electric energy meter",
  [0x028A] = "High-voltage smart electric energy meter", [0x05FF] = "Controller",
}
local EHD1 = { [0x10] = "ECHONET Lite" }
local EHD2 = { [0x81] = "Format 1 (specified message format)", [0x82] = "Format 2 (arbitrary message format)" }

local SUPER = {
  [0x80] = "Operation status", [0x81] = "Installation location", [0x82] = "Standard version information",
  [0x83] = "Identification number", [0x84] = "Measured instantaneous power consumption",
  [0x85] = "Measured cumulative power consumption", [0x86] = "Manufacturer's fault code",
  [0x87] = "Current limit setting", [0x88] = "Fault status", [0x89] = "Fault description",
  [0x8A] = "Manufacturer code", [0x8B] = "Business facility code", [0x8C] = "Product code",
  [0x8D] = "Production number", [0x8E] = "Production date", [0x8F] = "Power-saving operation setting",
  [0x93] = "Remote control setting", [0x97] = "Current time setting", [0x98] = "Current date setting",
  [0x99] = "Power limit setting", [0x9A] = "Cumulative operating time",
  [0x9B] = "SetM property map", [0x9C] = "GetM property map",
  [0x9D] = "Status change announcement property map", [0x9E] = "Set property map",
  [0x9F] = "Get property map",
}
local EPC = {
  [0x0EF0] = {
    [0x80] = "Operating status", [0x82] = "Version information", [0x83] = "Identification number",
    [0x88] = "Fault status", [0x89] = "Fault description", [0x8A] = "Manufacturer code",
    [0x8B] = "Business facility code", [0x8C] = "Product code", [0x8D] = "Production number",
    [0x8E] = "Production date", [0x9D] = "Status change announcement property map",
    [0x9E] = "Set property map", [0x9F] = "Get property map", [0xBF] = "Unique identifier data",
    [0xD3] = "Number of self-node instances", [0xD4] = "Number of self-node classes",
    [0xD5] = "Instance list notification", [0xD6] = "Self-node instance list S",
    [0xD7] = "Self-node class list S",
  },
  [0x0288] = {
    [0xC0] = "Route B identification number",
    [0xD0] = "One-minute measured cumulative energy (normal, reverse)",
    [0xD3] = "Coefficient", [0xD7] = "Number of effective digits for cumulative energy",
    [0xE0] = "Measured cumulative energy (normal direction)",
    [0xE1] = "Unit for cumulative energy (normal and reverse)",
    [0xE2] = "Historical cumulative energy 1 (normal)",
    [0xE3] = "Measured cumulative energy (reverse direction)",
    [0xE4] = "Historical cumulative energy 1 (reverse)", [0xE5] = "Day for historical data 1",
    [0xE7] = "Measured instantaneous electric power", [0xE8] = "Measured instantaneous currents",
    [0xEA] = "Cumulative energy measured at fixed time (normal)",
    [0xEB] = "Cumulative energy measured at fixed time (reverse)",
    [0xEC] = "Historical cumulative energy 2 (normal, reverse)",
    [0xED] = "Day/time for historical data 2",
    [0xEE] = "Historical cumulative energy 3, 1-minute (normal, reverse)",
    [0xEF] = "Day/time for historical data 3",
  },
  [0x028A] = {
    [0xC1] = "Monthly maximum electric power demand", [0xC2] = "Cumulative maximum electric power demand",
    [0xC3] = "Electric power demand at fixed time (30-min average)",
    [0xC4] = "Number of effective digits of demand", [0xC5] = "Unit of electric power demand",
    [0xC6] = "Historical measured demand", [0xC7] = "Unit of cumulative maximum demand",
    [0xCA] = "Reactive energy (lag) for power-factor measurement",
    [0xCB] = "Reactive energy (lag) for power-factor measurement at fixed time",
    [0xCC] = "Effective digits of reactive energy (lag)", [0xCD] = "Unit of reactive energy (lag)",
    [0xCE] = "Historical reactive energy (lag)", [0xD3] = "Coefficient",
    [0xD4] = "Multiplying factor for coefficient", [0xE0] = "Fixed date",
    [0xE1] = "Day for historical data", [0xE2] = "Measured cumulative active energy",
    [0xE3] = "Cumulative active energy at fixed time",
    [0xE4] = "Active energy for power-factor measurement",
    [0xE5] = "Effective digits of cumulative active energy", [0xE6] = "Unit of cumulative active energy",
    [0xE7] = "Historical cumulative active energy",
  },
}

local f = {
  ehd1 = ProtoField.uint8("echonet_lite.ehd1", "EHD1", base.HEX, EHD1),
  ehd2 = ProtoField.uint8("echonet_lite.ehd2", "EHD2", base.HEX, EHD2),
  tid = ProtoField.uint16("echonet_lite.tid", "TID", base.HEX),
  seoj = ProtoField.uint24("echonet_lite.seoj", "SEOJ", base.HEX),
  seoj_class = ProtoField.uint16("echonet_lite.seoj.class", "SEOJ class", base.HEX, CLASS),
  deoj = ProtoField.uint24("echonet_lite.deoj", "DEOJ", base.HEX),
  deoj_class = ProtoField.uint16("echonet_lite.deoj.class", "DEOJ class", base.HEX, CLASS),
  esv = ProtoField.uint8("echonet_lite.esv", "ESV", base.HEX, ESV),
  opc = ProtoField.uint8("echonet_lite.opc", "OPC", base.DEC),
  opc_get = ProtoField.uint8("echonet_lite.opc_get", "OPCGet", base.DEC),
  epc = ProtoField.uint8("echonet_lite.epc", "EPC", base.HEX),
  epc_name = ProtoField.string("echonet_lite.epc_name", "Property"),
  pdc = ProtoField.uint8("echonet_lite.pdc", "PDC", base.DEC),
  edt = ProtoField.bytes("echonet_lite.edt", "EDT"),
  value = ProtoField.string("echonet_lite.value", "Value"),
  edata = ProtoField.bytes("echonet_lite.edata", "EDATA (format 2)"),
}
p.fields = { f.ehd1, f.ehd2, f.tid, f.seoj, f.seoj_class, f.deoj, f.deoj_class, f.esv, f.opc,
             f.opc_get, f.epc, f.epc_name, f.pdc, f.edt, f.value, f.edata }

local e_short = ProtoExpert.new("echonet_lite.short", "Frame shorter than its OPC/PDC say",
                                expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_short }

local function epc_name(cls, epc)
  local t = EPC[cls]
  return (t and t[epc]) or SUPER[epc] or string.format("Unknown EPC 0x%02X", epc)
end

local function property_map(tvb)
  local n = tvb(0, 1):uint()
  local list = {}
  if tvb:len() == 17 and n >= 16 then
    for bit = 0, 7 do
      for byte = 1, 16 do
        if bit32.band(bit32.rshift(tvb(byte, 1):uint(), bit), 1) == 1 then
          list[#list + 1] = 0x80 + bit * 16 + (byte - 1)
        end
      end
    end
    table.sort(list)
  else
    for i = 1, tvb:len() - 1 do list[#list + 1] = tvb(i, 1):uint() end
  end
  local out = {}
  for _, e in ipairs(list) do out[#out + 1] = string.format("%02X", e) end
  return string.format("%d: %s", n, table.concat(out, " "))
end

local function value_of(cls, epc, tvb)
  local len = tvb:len()
  if (epc == 0x9D or epc == 0x9E or epc == 0x9F) and len >= 1 then return property_map(tvb) end
  if cls == 0x0288 and epc == 0xE7 and len == 4 then
    local v = tvb(0, 4):int()
    if v == 0x7FFFFFFE then return "not measured" end
    return string.format("%d W", v)
  end
  if cls == 0x0288 and epc == 0xE8 and len == 4 then
    local function amp(x) if x == 0x7FFE then return "not measured" end return string.format("%.1f A", x / 10) end
    return string.format("R %s, T %s", amp(tvb(0, 2):int()), amp(tvb(2, 2):int()))
  end
  if epc == 0xD3 and cls ~= 0x0EF0 and len == 4 then return tostring(tvb(0, 4):uint()) end
  return nil
end

-- one block of OPC properties at offset; returns the new offset or nil when the frame is short
local function properties(tvb, tree, offset, count, cls, pinfo)
  for i = 1, count do
    if offset + 2 > tvb:len() then
      tree:add_proto_expert_info(e_short)
      return nil
    end
    local epc = tvb(offset, 1):uint()
    local pdc = tvb(offset + 1, 1):uint()
    local size = 2 + pdc
    if offset + size > tvb:len() then size = tvb:len() - offset end
    local name = epc_name(cls, epc)
    local sub = tree:add(p, tvb(offset, size), string.format("Property 0x%02X: %s", epc, name))
    sub:add(f.epc, tvb(offset, 1))
    sub:add(f.epc_name, tvb(offset, 1), name)
    sub:add(f.pdc, tvb(offset + 1, 1))
    if pdc > 0 then
      if offset + 2 + pdc > tvb:len() then
        sub:add_proto_expert_info(e_short)
        return nil
      end
      local data = tvb(offset + 2, pdc)
      sub:add(f.edt, data)
      local v = value_of(cls, epc, data)
      if v then
        sub:add(f.value, data, v)
        sub:append_text(" = " .. v)
      end
    end
    offset = offset + 2 + pdc
  end
  return offset
end

function p.dissector(tvb, pinfo, tree)
  if tvb:len() < 4 or tvb(0, 1):uint() ~= 0x10 then return 0 end
  pinfo.cols.protocol = "ECHONET Lite"
  local root = tree:add(p, tvb(), "ECHONET Lite")
  root:add(f.ehd1, tvb(0, 1))
  root:add(f.ehd2, tvb(1, 1))
  root:add(f.tid, tvb(2, 2))
  local ehd2 = tvb(1, 1):uint()
  if ehd2 ~= 0x81 then
    if tvb:len() > 4 then root:add(f.edata, tvb(4)) end
    pinfo.cols.info = string.format("ECHONET Lite format 2, TID 0x%04X", tvb(2, 2):uint())
    return tvb:len()
  end
  if tvb:len() < 12 then
    root:add_proto_expert_info(e_short)
    return tvb:len()
  end
  local scls, dcls = tvb(4, 2):uint(), tvb(7, 2):uint()
  local s = root:add(f.seoj, tvb(4, 3))
  s:add(f.seoj_class, tvb(4, 2))
  s:append_text(" (" .. (CLASS[scls] or "class 0x" .. string.format("%04X", scls)) .. ")")
  local d = root:add(f.deoj, tvb(7, 3))
  d:add(f.deoj_class, tvb(7, 2))
  d:append_text(" (" .. (CLASS[dcls] or "class 0x" .. string.format("%04X", dcls)) .. ")")
  local esv = tvb(10, 1):uint()
  root:add(f.esv, tvb(10, 1))
  root:add(f.opc, tvb(11, 1))
  -- property names follow the object that owns the properties: DEOJ for requests, SEOJ otherwise
  local owner = (esv >= 0x60 and esv <= 0x6F) and dcls or scls
  local offset = properties(tvb, root, 12, tvb(11, 1):uint(), owner, pinfo)
  if offset and (esv == 0x6E or esv == 0x7E or esv == 0x5E) then
    if offset < tvb:len() then
      root:add(f.opc_get, tvb(offset, 1))
      offset = properties(tvb, root, offset + 1, tvb(offset, 1):uint(), owner, pinfo)
    else
      root:add_proto_expert_info(e_short)
    end
  end
  pinfo.cols.info = string.format("%s TID 0x%04X %06X -> %06X OPC %d",
    ESV[esv] or string.format("ESV 0x%02X", esv), tvb(2, 2):uint(), tvb(4, 3):uint(),
    tvb(7, 3):uint(), tvb(11, 1):uint())
  return tvb:len()
end

DissectorTable.get("udp.port"):add(3610, p)
