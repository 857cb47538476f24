from zoozl.plugin import Interface, InterfaceRoot, Package


class MyPlugin(Interface):
    aliases = ("call myplugin",)

    def consume(self, context: InterfaceRoot, package: Package):
        package.callback("Hello this is my plugin response")
