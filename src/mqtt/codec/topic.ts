/**
 * A valid Topic Name for PUBLISH / Will: at least one character and no wildcard
 * [MQTT-4.7.3-1] [MQTT-3.3.2-2]. (The codec already rejects wildcards and U+0000 on decode.)
 */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !topic.includes("+") && !topic.includes("#");
}

/**
 * A valid Topic Filter: at least one character [MQTT-4.7.3-1], "#" only alone as the last level
 * [MQTT-4.7.1-2], "+" only as a whole level [MQTT-4.7.1-3], and for "$share/{name}/{filter}" a
 * non-empty share name without "/", "+" or "#" [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  let rest = filter;
  if (filter.startsWith("$share/")) {
    const slash = filter.indexOf("/", 7);
    const name = filter.slice(7, slash < 0 ? undefined : slash);
    if (slash < 0 || name.length === 0 || name.includes("+") || name.includes("#")) return false;
    rest = filter.slice(slash + 1);
    if (rest.length === 0) return false;
  }
  const levels = rest.split("/");
  return levels.every((level, i) => {
    if (level.includes("#")) return level === "#" && i === levels.length - 1;
    return !level.includes("+") || level === "+";
  });
}
