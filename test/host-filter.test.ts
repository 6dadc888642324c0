import { describe, expect, test } from "bun:test";
import { HostFilter, parseHostNames, withoutPort } from "../src/count/host-filter.ts";

describe("HostFilter: which hosts --vhost counts", () => {
  test.each<[string[], string, boolean]>([
    [["shop.test"], "shop.test", true],
    [["shop.test"], "SHOP.Test", true],
    [["shop.test"], "shop.test:18095", true],
    [["shop.test:18095"], "shop.test:18095", true],
    [["shop.test:18095"], "shop.test:443", false],
    [["shop.test:18095"], "shop.test", false],
    [["shop.test"], "www.shop.test", false],
    [["shop.test"], "shop.testing", false],
    [["*.shop.test"], "www.shop.test", true],
    [["*.shop.test"], "a.b.shop.test:80", true],
    [["*.shop.test"], "shop.test", false],
    [["*.shop.test"], "evilshop.test", false],
    [["a.test", "b.test"], "b.test", true],
    [["[::1]"], "[::1]:8080", true],
    [["::1"], "::1", true],
  ])("%j counts %s: %p", (names, host, counted) => {
    expect(new HostFilter(names).allows(host)).toBe(counted);
  });

  test.each([
    ["shop.test:8080", "shop.test"],
    ["[::1]:80", "[::1]"],
    ["::1", "::1"],
    ["2001:db8::1", "2001:db8::1"],
    ["shop.test", "shop.test"],
  ])("withoutPort(%s) = %s", (host, bare) => {
    expect(withoutPort(host)).toBe(bare);
  });

  test.each([
    ["a.test,b.test", ["a.test", "b.test"]],
    [" a.test , *.b.test", ["a.test", "*.b.test"]],
  ])("parseHostNames(%j)", (text, names) => {
    expect(parseHostNames(text)).toEqual(names);
  });

  test.each(["", "a.test,", "a b", "a*.test", "*.*.test"])("parseHostNames refuses %j, naming it", (text) => {
    expect(() => parseHostNames(text)).toThrow("is not a host name");
  });
});
