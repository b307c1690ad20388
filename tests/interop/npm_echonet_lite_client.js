// HEMS side for test_npm_echonet_lite.py: npm `echonet-lite` 2.x used as its README shows, unmodified.
// It listens on 0.0.0.0:3610 / [::]:3610 and sends each request from another port (23610 for
// IPv4, an ephemeral one for IPv6), so it only hears answers sent to port 3610.
// usage: node npm_echonet_lite_client.js MODULE_DIR IPVER METER_ADDRESS
// prints one JSON line: what EL.search() discovered and the meter's E7 E0 D3 E1.
'use strict';
const [moduleDir, ipVerText, meter] = process.argv.slice(2);
const EL = require(moduleDir);
const ipVer = Number(ipVerText);
const WANTED = ['e7', 'e0', 'd3', 'e1'];
const heard = [];

function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

async function until(predicate, ms) {
  for (let t = 0; t < ms; t += 50) {
    if (predicate()) return true;
    await sleep(50);
  }
  return predicate();
}

(async () => {
  await EL.initialize(['05ff01'], (rinfo, els, err) => {
    if (els) heard.push([rinfo.address, rinfo.port, els.SEOJ, els.ESV]);
  }, ipVer, { v4: ipVer === 4 ? '127.0.0.1' : '', ignoreMe: true, autoGetProperties: true,
              autoGetDelay: 100 });
  await sleep(300);                      // let bind / addMembership finish
  EL.search();                            // multicast Get D6 83 9D 9E 9F to 0EF001
  const found = await until(() => EL.facilities[meter] && EL.facilities[meter]['0ef001'] &&
                                  EL.facilities[meter]['0ef001']['d6'], 6000);
  if (!found) {                           // no multicast reply: discover by unicast
    EL.sendDetails(meter, '05ff01', '0ef001', EL.GET, { d6: '' });
    await until(() => EL.facilities[meter] && EL.facilities[meter]['0ef001'] &&
                      EL.facilities[meter]['0ef001']['d6'], 6000);
  }
  const details = {};
  WANTED.forEach((e) => { details[e] = ''; });
  EL.sendDetails(meter, '05ff01', '028801', EL.GET, details);
  await until(() => {
    const m = EL.facilities[meter] && EL.facilities[meter]['028801'];
    return m && WANTED.every((e) => m[e] !== undefined);
  }, 8000);
  const node = EL.facilities[meter] || {};
  console.log(JSON.stringify({ multicast: Boolean(found), d6: (node['0ef001'] || {})['d6'],
                               meter: node['028801'] || {}, heard }));
  EL.release();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
