    @handler("CreateStackInstances", expand=False)
    def create_stack_instances(
