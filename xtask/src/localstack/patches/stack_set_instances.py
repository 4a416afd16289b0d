    @handler("ListStackInstances", expand=False)
    def list_stack_instances(self, context: RequestContext, request):
        # Patched by copilot-lite's `cargo xtask localstack setup`: list the instances of the
        # stack sets this engine creates (the inherited handler read the legacy engine's store
        # and found none), with AWS's StackInstanceAccount / StackInstanceRegion filters.
        state = get_cloudformation_store(context.account_id, context.region)
        set_name = request.get("StackSetName")
        stack_set = find_stack_set_v2(state, set_name)
        if not stack_set:
            raise StackSetNotFoundError(set_name)
        account = request.get("StackInstanceAccount")
        region = request.get("StackInstanceRegion")
        summaries = []
        for inst in stack_set.stack_instances:
            if account and inst.account_id != account:
                continue
            if region and inst.region_name != region:
                continue
            summaries.append(
                {
                    "StackSetId": inst.stack_set_id,
                    "Region": inst.region_name,
                    "Account": inst.account_id,
                    "StackId": inst.stack_id,
                    "Status": inst.status,
                    "StackInstanceStatus": inst.stack_instance_status,
                }
            )
        return {"Summaries": summaries}

    @handler("CreateStackInstances", expand=False)
    def create_stack_instances(
