// esb's Java runtime interface client: Lambda's Runtime API loop, for esb's Java base images.
//
// AWS's client (aws-lambda-java-runtime-interface-client) is only on Maven Central, which esb's
// machines do not reach, so esb carries this one, written against the documented Runtime API
// (2018-06-01): GET invocation/next, POST invocation/<id>/response and /error, POST init/error, and
// the Lambda-Runtime-* headers. It runs under RIE like awslambdaric does in the Python base. esb
// compiles it with `javac --release 8` against Debian's Jackson, so one build runs on Java 8 to 25.
//
// What it does as Lambda's Java runtime does:
// - loads the handler from _HANDLER: `package.Class::method`, or `package.Class` (its
//   handleRequest: RequestHandler or RequestStreamHandler), from the function's own class loader
//   over /var/task, /var/task/lib/*.jar and the layers' /opt/java/lib/*.jar. That loader does not
//   see esb's Jackson, as Lambda's does not see the runtime's;
// - picks among overloads the one with the most parameters; the forms are (), (input),
//   (input, Context), (InputStream, OutputStream) and (InputStream, OutputStream, Context);
//   a non-static handler's class is instantiated once, at init;
// - reads the event into the parameter's declared type (String, Map, List, a POJO, an
//   aws-lambda-java-events type) with Jackson set up as Lambda's serializer is: properties
//   case-insensitive, unknown ones ignored, nulls left out of the output;
// - gives handlers a Context (and its LambdaLogger) implementing the aws-lambda-java-core
//   interfaces found on the function's class path, by reflection, so a jar without
//   aws-lambda-java-core works too;
// - reports exceptions with Lambda's shape ({errorMessage, errorType, stackTrace, cause});
//   init failures go to init/error and end the process;
// - sets the system property com.amazonaws.xray.traceHeader from Lambda-Runtime-Trace-Id, or
//   from the client context's custom `X-Amzn-Trace-Id`, where esb puts its trace id because RIE
//   drops the header.
package esb.runtime;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Proxy;
import java.lang.reflect.Type;
import java.net.HttpURLConnection;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

public final class EsbRuntime {
    /** Jackson as Lambda's serializer sets it up; replaced at init by one that also knows the
     * function's Joda-Time, when it has it (see {@link Events#mapper}). */
    static ObjectMapper JSON = JsonMapper.builder()
            .configure(MapperFeature.ACCEPT_CASE_INSENSITIVE_PROPERTIES, true)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY, true)
            .configure(SerializationFeature.FAIL_ON_EMPTY_BEANS, false)
            .serializationInclusion(JsonInclude.Include.NON_NULL)
            .build();

    public static void main(String[] args) throws Exception {
        String api = env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        Api client = new Api(api);
        String spec = args.length > 0 && !args[0].isEmpty() ? args[0] : env("_HANDLER", "");
        Handler handler;
        try {
            ClassLoader loader = functionLoader();
            Thread.currentThread().setContextClassLoader(loader);
            JSON = Events.mapper(JSON, loader);
            handler = Handler.load(spec, loader);
        } catch (Throwable t) {
            Throwable cause = unwrap(t);
            ObjectNode shape = errorShape(cause);
            System.out.println(shape.toString());
            client.post("init/error", JSON.writeValueAsBytes(shape), cause.getClass().getName());
            System.exit(1);
            return;
        }
        for (;;) {
            Api.Next next = client.next();
            String id = next.header("Lambda-Runtime-Aws-Request-Id");
            String trace = next.header("Lambda-Runtime-Trace-Id");
            if (trace == null) {
                trace = clientContextTrace(next.header("Lambda-Runtime-Client-Context"));
            }
            if (trace != null) {
                System.setProperty("com.amazonaws.xray.traceHeader", trace);
            } else {
                System.clearProperty("com.amazonaws.xray.traceHeader");
            }
            Object context = handler.context == null ? null : Contexts.create(handler.context, next);
            byte[] result;
            try {
                result = handler.invoke(next.body, context);
            } catch (Throwable t) {
                Throwable cause = unwrap(t);
                ObjectNode shape = errorShape(cause);
                System.out.println(shape.toString());
                client.post("invocation/" + id + "/error", JSON.writeValueAsBytes(shape), cause.getClass().getName());
                continue;
            }
            client.post("invocation/" + id + "/response", result, null);
        }
    }

    static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }

    static Throwable unwrap(Throwable t) {
        while (t instanceof InvocationTargetException && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Lambda's Java error shape, with the cause chain. */
    static ObjectNode errorShape(Throwable t) {
        ObjectNode out = JSON.createObjectNode();
        out.put("errorMessage", t.getMessage() == null ? t.getClass().getName() : t.getMessage());
        out.put("errorType", t.getClass().getName());
        ArrayNode trace = out.putArray("stackTrace");
        for (StackTraceElement e : t.getStackTrace()) {
            if (e.getClassName().startsWith("esb.runtime.")) {
                break;
            }
            trace.add(e.toString());
        }
        Throwable cause = t.getCause();
        if (cause != null && cause != t) {
            out.set("cause", errorShape(cause));
        }
        return out;
    }

    static String clientContextTrace(String header) {
        if (header == null || header.isEmpty()) {
            return null;
        }
        try {
            JsonNode trace = JSON.readTree(header).path("custom").path("X-Amzn-Trace-Id");
            return trace.isTextual() ? trace.asText() : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** The function's class path, as Lambda's Java runtimes build it. */
    static ClassLoader functionLoader() throws IOException {
        String root = env("LAMBDA_TASK_ROOT", "/var/task");
        List<URL> urls = new ArrayList<URL>();
        urls.add(new File(root).toURI().toURL());
        for (String dir : new String[] {root + "/lib", "/opt/java/lib", "/opt/java"}) {
            File[] jars = new File(dir).listFiles();
            if (jars == null) {
                continue;
            }
            Arrays.sort(jars, Comparator.comparing(File::getName));
            for (File jar : jars) {
                if (jar.getName().endsWith(".jar")) {
                    urls.add(jar.toURI().toURL());
                }
            }
        }
        // Not the application loader: that one holds esb's client and Jackson.
        return new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getSystemClassLoader().getParent());
    }
}

/** The loaded handler: its method, its instance, and how its parameters are filled. */
final class Handler {
    final Method method;
    final Object instance;
    final boolean stream;
    final JavaType input;
    final Class<?> context;

    private Handler(Method method, Object instance, boolean stream, JavaType input, Class<?> context) {
        this.method = method;
        this.instance = instance;
        this.stream = stream;
        this.input = input;
        this.context = context;
    }

    static Handler load(String spec, ClassLoader loader) throws Exception {
        if (spec.isEmpty()) {
            throw new IllegalArgumentException("no handler: set Handler to package.Class::method or package.Class");
        }
        int sep = spec.indexOf("::");
        String className = sep < 0 ? spec : spec.substring(0, sep);
        String name = sep < 0 ? "handleRequest" : spec.substring(sep + 2);
        Class<?> cls;
        try {
            cls = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            throw new ClassNotFoundException("Class not found: " + className, e);
        }
        List<Method> candidates = new ArrayList<Method>();
        for (Method m : cls.getMethods()) {
            if (m.getName().equals(name) && !m.isBridge() && !m.isSynthetic() && m.getParameterTypes().length <= 3) {
                candidates.add(m);
            }
        }
        if (candidates.isEmpty()) {
            throw new NoSuchMethodException("Class " + className + " has no public method " + name
                    + (sep < 0 ? " (it implements neither RequestHandler nor RequestStreamHandler)" : ""));
        }
        // The most parameters wins; then the most specific input type (not Object).
        candidates.sort(Comparator.<Method>comparingInt(m -> -m.getParameterTypes().length)
                .thenComparing(m -> m.getParameterTypes().length > 0 && m.getParameterTypes()[0] == Object.class));
        Method method = candidates.get(0);
        method.setAccessible(true);
        Class<?>[] types = method.getParameterTypes();
        Type[] generic = method.getGenericParameterTypes();
        boolean stream = types.length >= 2 && InputStream.class.isAssignableFrom(types[0]) && OutputStream.class.isAssignableFrom(types[1]);
        Class<?> context = null;
        int last = types.length - 1;
        if (stream ? types.length == 3 : types.length == 2) {
            context = types[last];
            if (!context.isInterface()) {
                throw new NoSuchMethodException("the last parameter of " + className + "::" + name
                        + " must be com.amazonaws.services.lambda.runtime.Context, found " + context.getName());
            }
        }
        JavaType input = !stream && types.length >= 1 ? EsbRuntime.JSON.getTypeFactory().constructType(generic[0]) : null;
        Object instance = Modifier.isStatic(method.getModifiers()) ? null : newInstance(cls);
        return new Handler(method, instance, stream, input, context);
    }

    private static Object newInstance(Class<?> cls) throws Exception {
        java.lang.reflect.Constructor<?> c = cls.getDeclaredConstructor();
        c.setAccessible(true);
        return c.newInstance();
    }

    /** Runs one invocation: the event's bytes in, the response's bytes out. */
    byte[] invoke(byte[] event, Object ctx) throws Throwable {
        if (stream) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Object[] args = context == null ? new Object[] {new ByteArrayInputStream(event), out}
                    : new Object[] {new ByteArrayInputStream(event), out, ctx};
            method.invoke(instance, args);
            return out.toByteArray();
        }
        Object[] args;
        if (input == null) {
            args = new Object[0];
        } else {
            byte[] json = event.length == 0 ? "null".getBytes(StandardCharsets.UTF_8) : event;
            Object value;
            if (input.getRawClass() == InputStream.class) {
                value = new ByteArrayInputStream(event);
            } else if (Events.isBean(input.getRawClass())) {
                value = EsbRuntime.JSON.convertValue(Events.aliased(EsbRuntime.JSON.readTree(json)), input);
            } else {
                value = EsbRuntime.JSON.readValue(json, input);
            }
            args = context == null ? new Object[] {value} : new Object[] {value, ctx};
        }
        Object result = method.invoke(instance, args);
        if (method.getReturnType() == void.class) {
            return "null".getBytes(StandardCharsets.UTF_8);
        }
        if (result != null && Events.isBean(result.getClass())) {
            return EsbRuntime.JSON.writeValueAsBytes(Events.unaliased(EsbRuntime.JSON.valueToTree(result)));
        }
        return EsbRuntime.JSON.writeValueAsBytes(result);
    }
}

/**
 * What Lambda's serializers do for aws-lambda-java-events types beyond Jackson's defaults: Joda-Time
 * {@code DateTime} fields (S3 and scheduled events) read from and written as ISO text when the
 * function has Joda-Time; {@code isBase64Encoded} for the Lombok-made {@code setBase64Encoded} of
 * {@code APIGatewayV2HTTPEvent}, and {@code detail-type} for {@code ScheduledEvent}'s
 * {@code detailType}, on a POJO's own properties only (never added to a Map the handler sees).
 */
final class Events {
    static ObjectMapper mapper(ObjectMapper base, ClassLoader loader) {
        final Class<?> dateTime;
        try {
            dateTime = Class.forName("org.joda.time.DateTime", false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            return base;
        }
        com.fasterxml.jackson.databind.module.SimpleModule joda = new com.fasterxml.jackson.databind.module.SimpleModule("esb-joda");
        addJoda(joda, dateTime);
        return base.copy().registerModule(joda);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void addJoda(com.fasterxml.jackson.databind.module.SimpleModule module, final Class dateTime) {
        module.addDeserializer(dateTime, new com.fasterxml.jackson.databind.JsonDeserializer<Object>() {
            @Override
            public Object deserialize(com.fasterxml.jackson.core.JsonParser p, com.fasterxml.jackson.databind.DeserializationContext c)
                    throws IOException {
                try {
                    Object instant = p.currentToken() == com.fasterxml.jackson.core.JsonToken.VALUE_NUMBER_INT ? (Object) p.getLongValue() : p.getText();
                    return dateTime.getConstructor(Object.class).newInstance(instant);
                } catch (ReflectiveOperationException e) {
                    throw new IOException("cannot read a Joda DateTime from " + p.getText(), e);
                }
            }
        });
        module.addSerializer(dateTime, new com.fasterxml.jackson.databind.JsonSerializer<Object>() {
            @Override
            public void serialize(Object value, com.fasterxml.jackson.core.JsonGenerator g, com.fasterxml.jackson.databind.SerializerProvider s)
                    throws IOException {
                g.writeString(value.toString());
            }
        });
    }

    /** A class whose JSON is its properties: not a String, number, Map, collection or array. */
    static boolean isBean(Class<?> c) {
        return !(c.isPrimitive() || c.isArray() || c.isEnum() || c == Object.class || c == String.class
                || Number.class.isAssignableFrom(c) || c == Boolean.class || java.util.Map.class.isAssignableFrom(c)
                || java.util.Collection.class.isAssignableFrom(c) || JsonNode.class.isAssignableFrom(c)
                || c.getName().startsWith("java."));
    }

    static JsonNode aliased(JsonNode event) {
        if (event instanceof ObjectNode) {
            ObjectNode o = (ObjectNode) event;
            if (o.has("isBase64Encoded") && !o.has("base64Encoded")) {
                o.set("base64Encoded", o.get("isBase64Encoded"));
            }
            if (o.has("detail-type") && !o.has("detailType")) {
                o.set("detailType", o.get("detail-type"));
            }
        }
        return event;
    }

    static JsonNode unaliased(JsonNode result) {
        if (result instanceof ObjectNode) {
            ObjectNode o = (ObjectNode) result;
            if (o.has("base64Encoded") && !o.has("isBase64Encoded")) {
                o.set("isBase64Encoded", o.remove("base64Encoded"));
            }
        }
        return result;
    }
}

/** Context and LambdaLogger objects for the interfaces the function's class path defines. */
final class Contexts {
    static Object create(Class<?> iface, Api.Next next) {
        final String id = next.header("Lambda-Runtime-Aws-Request-Id");
        final String arn = next.header("Lambda-Runtime-Invoked-Function-Arn");
        final long deadline = parseLong(next.header("Lambda-Runtime-Deadline-Ms"), System.currentTimeMillis() + 3000);
        final ClassLoader loader = iface.getClassLoader();
        InvocationHandler h = new InvocationHandler() {
            Object logger;

            @Override
            public Object invoke(Object proxy, Method m, Object[] args) {
                switch (m.getName()) {
                    case "getAwsRequestId": return id;
                    case "getInvokedFunctionArn": return arn;
                    case "getFunctionName": return EsbRuntime.env("AWS_LAMBDA_FUNCTION_NAME", "");
                    case "getFunctionVersion": return EsbRuntime.env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
                    case "getLogGroupName": return EsbRuntime.env("AWS_LAMBDA_LOG_GROUP_NAME", "");
                    case "getLogStreamName": return EsbRuntime.env("AWS_LAMBDA_LOG_STREAM_NAME", "");
                    case "getMemoryLimitInMB": return (int) parseLong(EsbRuntime.env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"), 128);
                    case "getRemainingTimeInMillis": return (int) Math.max(0, deadline - System.currentTimeMillis());
                    case "getLogger":
                        if (logger == null && m.getReturnType().isInterface()) {
                            logger = Proxy.newProxyInstance(loader, new Class<?>[] {m.getReturnType()}, Contexts::log);
                        }
                        return logger;
                    case "toString": return "Context(" + id + ")";
                    case "hashCode": return System.identityHashCode(proxy);
                    case "equals": return proxy == args[0];
                    default: return defaultValue(m.getReturnType());
                }
            }
        };
        return Proxy.newProxyInstance(loader, new Class<?>[] {iface}, h);
    }

    /** LambdaLogger.log(String), log(byte[]) and log(message, LogLevel): one line on stdout. */
    private static Object log(Object proxy, Method m, Object[] args) {
        if (!m.getName().equals("log") || args == null || args.length == 0) {
            return m.getName().equals("toString") ? "LambdaLogger" : defaultValue(m.getReturnType());
        }
        PrintStream out = System.out;
        Object msg = args[0];
        String text = msg instanceof byte[] ? new String((byte[]) msg, StandardCharsets.UTF_8) : String.valueOf(msg);
        if (args.length > 1 && args[1] != null && !(args[1] instanceof byte[])) {
            text = "[" + args[1] + "] " + text;
        }
        out.print(text.endsWith("\n") ? text : text + "\n");
        out.flush();
        return null;
    }

    private static Object defaultValue(Class<?> t) {
        if (t == int.class) {
            return 0;
        }
        if (t == long.class) {
            return 0L;
        }
        if (t == boolean.class) {
            return false;
        }
        return null;
    }

    private static long parseLong(String s, long fallback) {
        try {
            return s == null ? fallback : Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }
}

/** The Runtime API over HTTP/1.1 (keep-alive, as HttpURLConnection does by default). */
final class Api {
    private final String base;

    Api(String hostPort) {
        this.base = "http://" + hostPort + "/2018-06-01/runtime/";
    }

    static final class Next {
        final HttpURLConnection conn;
        final byte[] body;

        Next(HttpURLConnection conn, byte[] body) {
            this.conn = conn;
            this.body = body;
        }

        String header(String name) {
            return conn.getHeaderField(name);
        }
    }

    Next next() throws IOException {
        for (;;) {
            HttpURLConnection c = (HttpURLConnection) new URL(base + "invocation/next").openConnection();
            c.setReadTimeout(0);
            try {
                byte[] body = readAll(c.getInputStream());
                return new Next(c, body);
            } catch (IOException e) {
                // RIE restarting the runtime's wait: try again shortly.
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    void post(String route, byte[] body, String errorType) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL(base + route).openConnection();
        c.setRequestMethod("POST");
        c.setDoOutput(true);
        c.setFixedLengthStreamingMode(body.length);
        c.setRequestProperty("Content-Type", "application/json");
        if (errorType != null) {
            c.setRequestProperty("Lambda-Runtime-Function-Error-Type", errorType);
        }
        try (OutputStream out = c.getOutputStream()) {
            out.write(body);
        }
        InputStream in = c.getResponseCode() >= 400 ? c.getErrorStream() : c.getInputStream();
        if (in != null) {
            readAll(in);
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        try (InputStream i = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            for (int n; (n = i.read(buf)) > 0;) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }
}
