package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;
import java.util.Map;
import java.util.Set;

/**
 * A real Elasticsearch {@link Node} whose plugins come from the classpath.
 *
 * <p>Lives in {@code org.elasticsearch.node} because {@code Node(NodeConstruction)},
 * {@code NodeConstruction.prepareConstruction(Environment, PluginsLoader, NodeServiceProvider, boolean)}
 * and {@code NodeServiceProvider#newPluginService(Environment, PluginsLoader)} are package-private
 * (signatures checked with javap against Elasticsearch 9.5.3).
 */
public class EmbeddedNode extends Node {
    public EmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> pluginClasses) {
        super(NodeConstruction.prepareConstruction(
            environment,
            // no module/plugin bundles on disk and no native-access grants; false = do not compute
            // module-qualified exports (everything is on the plain classpath, in the unnamed module)
            PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false),
            new NodeServiceProvider() {
                @Override
                PluginsService newPluginService(Environment env, PluginsLoader pluginsLoader) {
                    return new ClasspathPluginsService(env.settings(), pluginsLoader, pluginClasses);
                }
            },
            true // forbidPrivateIndexSettings, as in a production node
        ));
    }
}
