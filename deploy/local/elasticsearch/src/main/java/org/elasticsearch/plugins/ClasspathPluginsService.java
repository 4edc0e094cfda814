package org.elasticsearch.plugins;

import org.elasticsearch.Version;
import org.elasticsearch.common.settings.Settings;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * A {@link PluginsService} whose plugins are plain classes already on the JVM classpath,
 * instead of bundles unpacked under {@code $ES_HOME/modules} and {@code $ES_HOME/plugins}.
 *
 * <p>Lives in {@code org.elasticsearch.plugins} because {@code LoadedPlugin}, {@code loadPlugin}
 * and {@code loadExtensions} are package-private. Checked against Elasticsearch 9.5.3:
 * <ul>
 *   <li>{@code PluginsService(Settings, Path, PluginsLoader)}: with an empty loader the base class
 *       loads nothing, so {@link #plugins()} is overridden to return our list;</li>
 *   <li>{@code PluginDescriptor} has 13 constructor arguments (the last one is the deployment target);</li>
 *   <li>{@code LoadedPlugin(descriptor, instance, classLoader)} (3 arguments; ES 8 had a 4th, the module layer).</li>
 * </ul>
 */
public class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(Settings settings, PluginsLoader emptyLoader, Collection<Class<? extends Plugin>> pluginClasses) {
        super(settings, null, emptyLoader);
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        List<LoadedPlugin> loaded = new ArrayList<>(pluginClasses.size());
        for (Class<? extends Plugin> pluginClass : pluginClasses) {
            Plugin instance = loadPlugin(pluginClass, settings, null);
            PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),              // name
                "loaded from the classpath",        // description
                "NA",                               // version
                Version.CURRENT.toString(),         // elasticsearch version
                Runtime.version().feature() + "",   // java version
                pluginClass.getName(),              // classname
                null,                               // module name (none: classpath)
                List.of(),                          // extended plugins
                false,                              // has native controller
                false,                              // is licensed
                false,                              // is modular
                false,                              // is stable
                PluginDescriptor.DeploymentTarget.ALL
            );
            loaded.add(new LoadedPlugin(descriptor, instance, loader));
        }
        loadExtensions(loaded);
        this.classpathPlugins = List.copyOf(loaded);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }
}
