// Where Sealpost's own requests may go: every request to a host named by someone else (webhook
// endpoints, Web Key Directories, MTA-STS policy hosts, single sign-on providers) resolves the host
// once, checks every address against the operator's policy, and connects only to an address it
// checked.
export { type AddressPolicy, AddressRanges, addressRefusal, classifyAddress } from './address.ts';
export { FetchFailed, type GuardedFetch, guardedFetch, type GuardedFetchOptions } from './fetch.ts';
export { guardHost, HostRefused } from './host.ts';
export { guardedGet, type GuardedGetOptions, type HttpsAnswer } from './https-get.ts';
export { makeResolver, type Resolve, resolverOf } from './resolve.ts';
