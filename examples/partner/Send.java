// A partner backend's signer and sender (CONTRACT §2), Java 11+, standard library only
// (java.net.http), one file:
//
//   java Send.java <command> <json-file-or-inline> [<command> <arg> ...]
//
// Commands: unicast, listcast, customizedcast, groupcast, broadcast (POST /psp/push/msg, the
// command is the body's `type`), config (POST /psp/push/config, the JSON names its own `type`),
// status <task_id | last> (GET /psp/push/status; `last` is the task of the previous command).
// Environment: BASE (default http://127.0.0.1:8787), APPKEY, SECRET (the app_master_secret).
// Prints one JSON line per call, {"command": ..., "ret": ..., "data": ...}; exits 1 if any failed.
// The JSON is passed through as text (the standard library has no JSON parser): the push
// commands add their "type" as the body's last key, which wins over one in the file.
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Send {
  static final List<String> PUSH_TYPES =
      List.of("unicast", "listcast", "customizedcast", "groupcast", "broadcast");
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static final Pattern TASK_ID = Pattern.compile("\"task_id\"\\s*:\\s*\"([^\"]+)\"");
  private static final Pattern TYPE = Pattern.compile("\"type\"\\s*:\\s*\"([^\"]*)\"");
  private static long lastTimestamp = 0;

  static String md5Hex(String text) throws Exception {
    byte[] digest = MessageDigest.getInstance("MD5").digest(text.getBytes(StandardCharsets.UTF_8));
    StringBuilder hex = new StringBuilder();
    for (byte b : digest) hex.append(String.format("%02x", b));
    return hex.toString();
  }

  /**
   * One signed partner call: sign = md5(METHOD + url + timestamp + body + secret), url with its
   * query string exactly as sent, sign appended last. A sign is good once, so no two calls share
   * a timestamp.
   */
  static synchronized String psp(String method, String path, String body) throws Exception {
    String base = System.getenv().getOrDefault("BASE", "http://127.0.0.1:8787");
    String appkey = System.getenv("APPKEY");
    String secret = System.getenv("SECRET");
    if (appkey == null || secret == null) throw new IllegalStateException("set APPKEY and SECRET");
    lastTimestamp = Math.max(System.currentTimeMillis(), lastTimestamp + 1);
    String timestamp = Long.toString(lastTimestamp);
    String url = base + path;
    String sign = md5Hex(method.toUpperCase() + url + timestamp + body + secret);
    HttpRequest request = HttpRequest.newBuilder(URI.create(url + (path.contains("?") ? "&" : "?") + "sign=" + sign))
        .method(method, body.isEmpty()
            ? HttpRequest.BodyPublishers.noBody()
            : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
        .header("X-Appkey", appkey)
        .header("X-Timestamp", timestamp)
        .header("Content-Type", "application/json")
        .build();
    HttpResponse<String> res = HTTP.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    String text = res.body().trim();
    if (text.startsWith("{")) return text;
    return "{\"ret\":\"FAIL\",\"data\":{\"http_status\":" + res.statusCode() + "}}";
  }

  /** An argument is inline JSON when it starts with "{", else the name of a JSON file. */
  static String readJson(String arg) throws Exception {
    String text = arg.strip().startsWith("{") ? arg : Files.readString(Path.of(arg), StandardCharsets.UTF_8);
    text = text.strip();
    if (!text.startsWith("{") || !text.endsWith("}")) throw new IllegalArgumentException("not a JSON object: " + arg);
    return text;
  }

  /** The object's text with "key": value added as its last member. */
  static String withLast(String object, String key, String value) {
    String inner = object.substring(1, object.length() - 1).strip();
    return "{" + inner + (inner.isEmpty() ? "" : ",") + "\"" + key + "\":\"" + value + "\"}";
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 0 || args.length % 2 != 0) {
      System.err.println("usage: java Send.java <command> <json-file-or-inline | task_id> [<command> <arg> ...]");
      System.exit(2);
    }
    // UTF-8 out whatever the locale (non-ASCII JSON is best passed in a file: the JVM decodes
    // arguments with the locale's charset).
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    String lastTaskId = null;
    boolean ok = true;
    for (int i = 0; i < args.length; i += 2) {
      String command = args[i];
      String arg = args[i + 1];
      String answer;
      if (PUSH_TYPES.contains(command)) {
        answer = psp("POST", "/psp/push/msg", withLast(readJson(arg), "type", command));
      } else if (command.equals("config")) {
        String body = readJson(arg);
        Matcher type = TYPE.matcher(body);
        if (!type.find() || !PUSH_TYPES.contains(type.group(1))) {
          throw new IllegalArgumentException("config: \"type\" must be one of " + PUSH_TYPES);
        }
        answer = psp("POST", "/psp/push/config", body);
      } else if (command.equals("status")) {
        String taskId = arg.equals("last") ? lastTaskId : arg;
        if (taskId == null) throw new IllegalArgumentException("status: no task id (and no previous push)");
        answer = psp("GET", "/psp/push/status?task_id=" + URLEncoder.encode(taskId, StandardCharsets.UTF_8), "");
      } else {
        throw new IllegalArgumentException("unknown command " + command + ": use " + PUSH_TYPES + ", config or status");
      }
      if (!answer.matches("(?s)\\{\\s*\"ret\"\\s*:\\s*\"SUCCESS\".*")) ok = false;
      Matcher task = TASK_ID.matcher(answer);
      if (task.find()) lastTaskId = task.group(1);
      out.println("{\"command\":\"" + command + "\"," + answer.substring(1));
    }
    System.exit(ok ? 0 : 1);
  }
}
