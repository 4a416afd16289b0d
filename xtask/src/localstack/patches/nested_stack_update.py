    def update(
        self,
        request: ResourceRequest[CloudFormationStackProperties],
    ) -> ProgressEvent[CloudFormationStackProperties]:
        """
        Update a resource (patched in by `cargo xtask localstack setup`: update the nested stack)
        """
        model = request.desired_state
        previous = request.previous_state or {}
        model["Id"] = model.get("Id") or previous.get("Id")
        model["StackName"] = model.get("StackName") or previous.get("StackName")
        cfn = request.aws_client_factory.cloudformation

        def outputs():
            stack = cfn.describe_stacks(StackName=model["Id"])["Stacks"][0]
            model["Outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

        if not request.custom_context.get(REPEATED_INVOCATION):
            params = [
                {
                    "ParameterKey": k,
                    "ParameterValue": str(v).lower() if isinstance(v, bool) else str(v),
                }
                for k, v in (model.get("Parameters") or {}).items()
            ]
            try:
                cfn.update_stack(
                    StackName=model["Id"],
                    TemplateURL=model["TemplateURL"],
                    Parameters=params,
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
                )
            except Exception as e:
                if "No updates are to be performed" not in str(e):
                    raise
                outputs()
                return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)
            request.custom_context[REPEATED_INVOCATION] = True
            return ProgressEvent(
                status=OperationStatus.IN_PROGRESS,
                resource_model=model,
                custom_context=request.custom_context,
            )

        stack = cfn.describe_stacks(StackName=model["Id"])["Stacks"][0]
        status = stack["StackStatus"]
        if status == "UPDATE_COMPLETE":
            outputs()
            return ProgressEvent(
                status=OperationStatus.SUCCESS,
                resource_model=model,
                custom_context=request.custom_context,
            )
        if status.endswith("_IN_PROGRESS"):
            return ProgressEvent(
                status=OperationStatus.IN_PROGRESS,
                resource_model=model,
                custom_context=request.custom_context,
            )
        reasons = [
            f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}"
            for e in cfn.describe_stack_events(StackName=model["Id"])["StackEvents"]
            if e.get("ResourceStatus", "").endswith("FAILED")
            and e.get("ResourceStatusReason")
            and e.get("PhysicalResourceId") != model["Id"]
        ]
        return ProgressEvent(
            status=OperationStatus.FAILED,
            resource_model=model,
            custom_context=request.custom_context,
            message=f"Nested stack {status}: " + "; ".join(reasons[:3]),
        )
