import { z } from "zod";

/**
 * Object names that end up in file names and kernel profile names. One allow-list charset
 * (DNS-1123 subdomain) is checked at every boundary so no name can carry `/`, `..`, NUL or a
 * leading dot into a host path.
 */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const ObjectName = z
  .string()
  .max(253)
  .regex(DNS_SUBDOMAIN, "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'");
export const LabelName = z.string().max(63).regex(DNS_LABEL, "must be a DNS-1123 label");
